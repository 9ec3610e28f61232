import ipaddr from 'ipaddr.js';

/**
 * The key a client address is limited under: an IPv4 address as it is, an IPv6 address by its
 * /64 network (one subscriber usually holds a whole /64, so single addresses are free to rotate).
 */
export function addressKey(ip: string): string {
  // The common case, a plain IPv4 address as Node reports it, needs no parsing.
  if (!ip.includes(':')) return ip;
  if (!ipaddr.isValid(ip)) return ip;
  const parsed = ipaddr.parse(ip);
  if (parsed instanceof ipaddr.IPv6) {
    if (parsed.isIPv4MappedAddress()) return parsed.toIPv4Address().toString();
    return `${parsed.parts
      .slice(0, 4)
      .map((p) => p.toString(16))
      .join(':')}::/64`;
  }
  return parsed.toString();
}

const PROXY_KEYWORDS = new Set(['loopback', 'linklocal', 'uniquelocal']);

/** True for what Fastify's trustProxy list accepts: an address, a CIDR range or a keyword. */
export function isProxySpec(spec: string): boolean {
  if (PROXY_KEYWORDS.has(spec)) return true;
  const [address = '', bits, ...rest] = spec.split('/');
  const strict = ipaddr.IPv4.isValidFourPartDecimal(address) || ipaddr.IPv6.isValid(address);
  if (!strict || rest.length > 0) return false;
  if (bits === undefined) return true;
  try {
    ipaddr.parseCIDR(spec);
    return true;
  } catch {
    return false;
  }
}
