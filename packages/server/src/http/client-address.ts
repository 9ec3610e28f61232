import type { IncomingMessage } from 'node:http';
import proxyAddr from '@fastify/proxy-addr';

const RESOLVED = Symbol('gatehouse.clientAddress');
type Resolved = IncomingMessage & { [RESOLVED]?: string };

/**
 * Finds a request's client address as Fastify's `request.ip` does under `trustProxy` with the
 * same list (the socket's address, or the nearest X-Forwarded-For entry not from a trusted
 * proxy), once per request: the front door and the gateway both need it, and parsing
 * X-Forwarded-For costs more than the rest of a refused request's bookkeeping.
 */
export function clientAddressResolver(trustedProxies: readonly string[]): (req: IncomingMessage) => string {
  const trust = trustedProxies.length > 0 ? proxyAddr.compile([...trustedProxies]) : null;
  return (req: Resolved) => {
    let address = req[RESOLVED];
    if (address === undefined) {
      address = (trust === null ? req.socket.remoteAddress : proxyAddr(req, trust)) ?? '';
      req[RESOLVED] = address;
    }
    return address;
  };
}
