import { describe, expect, it } from 'vitest';
import { addressKey, isProxySpec } from './address.js';

describe('addressKey', () => {
  it('keeps IPv4 addresses whole', () => {
    expect(addressKey('203.0.113.7')).toBe('203.0.113.7');
    expect(addressKey('203.0.113.8')).not.toBe(addressKey('203.0.113.7'));
  });

  it('groups IPv6 clients by /64', () => {
    expect(addressKey('2001:db8:1:2:aaaa::1')).toBe('2001:db8:1:2::/64');
    expect(addressKey('2001:db8:1:2:ffff:ffff:ffff:ffff')).toBe(addressKey('2001:db8:1:2::9'));
    expect(addressKey('2001:db8:1:3::1')).not.toBe(addressKey('2001:db8:1:2::1'));
  });

  it('treats an IPv4-mapped IPv6 address as IPv4', () => {
    expect(addressKey('::ffff:192.0.2.1')).toBe('192.0.2.1');
  });
});

describe('isProxySpec', () => {
  it('accepts addresses, CIDR ranges and keywords, and nothing else', () => {
    for (const ok of ['10.0.0.1', '10.0.0.0/8', '::1', 'fd00::/8', 'loopback']) expect(isProxySpec(ok), ok).toBe(true);
    for (const bad of ['10.0.0', 'proxy.example.com', '10.0.0.0/33', '*']) expect(isProxySpec(bad), bad).toBe(false);
  });
});
