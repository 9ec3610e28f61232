import type { FastifyReply } from 'fastify';
import { afterEach, describe, expect, it } from 'vitest';
import { AppError } from '../errors/app-error.js';
import { createRateLimiter, FAILED_AUTH_LIMIT_PER_MINUTE } from './limiter.js';
import { MemoryStore } from './memory-store.js';
import type { RateLimitStore } from './store.js';

const reply = () => {
  const sent: Record<string, string> = {};
  const r = {
    sent,
    header(name: string, value: string) {
      sent[name] = value;
      return r;
    },
    headers(values: Record<string, string>) {
      Object.assign(sent, values);
      return r;
    },
  };
  return r;
};
const asReply = (r: ReturnType<typeof reply>) => r as unknown as FastifyReply;

const stores: MemoryStore[] = [];
afterEach(async () => {
  for (const s of stores.splice(0)) await s.close();
});

/** A memory store that counts the calls made to it. */
function countingStore() {
  const inner = new MemoryStore();
  stores.push(inner);
  const calls = { n: 0 };
  const store = new Proxy(inner, {
    get(target, prop, receiver) {
      const value = Reflect.get(target, prop, receiver);
      if (typeof value !== 'function') return value;
      return (...args: unknown[]) => {
        calls.n++;
        return value.apply(target, args);
      };
    },
  }) as RateLimitStore;
  return { store, calls };
}

describe('the rate limiter', () => {
  it('refuses a blocked address from memory, without asking the store, until the block ends', async () => {
    let ms = 1_000_000;
    const { store, calls } = countingStore();
    const limiter = createRateLimiter({ store, clock: { now: () => new Date(ms) } });
    for (let i = 0; i < FAILED_AUTH_LIMIT_PER_MINUTE; i++) {
      expect(await limiter.recordFailedAuth(asReply(reply()), '198.51.100.7')).toBeNull();
    }
    const refusal = await limiter.recordFailedAuth(asReply(reply()), '198.51.100.7');
    expect(refusal?.code).toBe('too_many_requests');

    const before = calls.n;
    const r = reply();
    expect(limiter.knownBlocked(asReply(r), '198.51.100.7')?.code).toBe('too_many_requests');
    expect(r.sent['ratelimit-policy']).toBe(`"failed_auth";q=${FAILED_AUTH_LIMIT_PER_MINUTE};w=60`);
    expect(calls.n).toBe(before);
    expect(limiter.knownBlocked(asReply(reply()), '198.51.100.8')).toBeNull();

    ms += 60_000;
    expect(limiter.knownBlocked(asReply(reply()), '198.51.100.7')).toBeNull();
  });

  it('refuses a valid request from a blocked address without counting it against the user', async () => {
    const { store } = countingStore();
    const limiter = createRateLimiter({ store, clock: { now: () => new Date(5_000_000) } });
    for (let i = 0; i < FAILED_AUTH_LIMIT_PER_MINUTE; i++)
      await store.hit('failed_auth:203.0.113.9', 30, 60_000, 5_000_000);
    expect((await limiter.user(asReply(reply()), '203.0.113.9', 'u1', false, 60))?.code).toBe('too_many_requests');
    expect((await store.peek('default:u1', 60, 60_000, 5_000_000)).remaining).toBe(60);
    // …and remembers it: the next request from there is refused before any look-up.
    expect(limiter.knownBlocked(asReply(reply()), '203.0.113.9')?.code).toBe('too_many_requests');
  });
});

describe('the rate limiter on the in-process store', () => {
  it('decides an authenticated request at once, without a promise, headers set', () => {
    const limiter = createRateLimiter({ store: countingStore().store, clock: { now: () => new Date(7_000_000) } });
    const r = reply();
    const decided = limiter.user(asReply(r), '203.0.113.20', 'u2', false, 60);
    expect(decided).toBeNull();
    expect(r.sent.ratelimit).toBe('"default";r=59;t=60');
  });

  it('shares one refusal among the requests from blocked addresses with the same seconds left', async () => {
    let ms = 9_000_000;
    const limiter = createRateLimiter({ store: countingStore().store, clock: { now: () => new Date(ms) } });
    expect(limiter.anyBlocked()).toBe(false);
    expect(limiter.blockedRefusal('198.51.100.30')).toBeNull();
    for (const address of ['198.51.100.30', '198.51.100.31']) {
      for (let i = 0; i <= FAILED_AUTH_LIMIT_PER_MINUTE; i++) await limiter.recordFailedAuth(asReply(reply()), address);
    }
    const first = limiter.blockedRefusal('198.51.100.30');
    expect(first).not.toBeNull();
    expect(limiter.anyBlocked()).toBe(true);
    expect(limiter.blockedRefusal('198.51.100.31')).toBe(first);
    expect(first?.error.headers['retry-after']).toBe('60');
    expect(first?.headers.ratelimit).toBe('"failed_auth";r=0;t=60');
    // A second later, the refusal says so.
    ms += 1_000;
    const later = limiter.blockedRefusal('198.51.100.30');
    expect(later).not.toBe(first);
    expect(later?.error.headers['retry-after']).toBe('59');
    expect(later?.error.detail).toContain('retry in 59 seconds');
  });
});

describe('the addresses a node remembers as blocked', () => {
  it('are all forgotten once the last block has ended, even if none of them comes back', async () => {
    let ms = 11_000_000;
    const limiter = createRateLimiter({ store: countingStore().store, clock: { now: () => new Date(ms) } });
    for (let i = 0; i <= FAILED_AUTH_LIMIT_PER_MINUTE; i++)
      await limiter.recordFailedAuth(asReply(reply()), '198.51.100.50');
    ms += 30_000;
    for (let i = 0; i <= FAILED_AUTH_LIMIT_PER_MINUTE; i++)
      await limiter.recordFailedAuth(asReply(reply()), '198.51.100.51');
    ms += 31_000; // the first block has ended, the second has not
    expect(limiter.anyBlocked()).toBe(true);
    expect(limiter.blockedRefusal('198.51.100.51')).not.toBeNull();
    ms += 30_000; // both have ended
    expect(limiter.anyBlocked()).toBe(false);
    expect(limiter.blockedRefusal('198.51.100.50')).toBeNull();
    expect(limiter.blockedRefusal('198.51.100.51')).toBeNull();
  });
});

describe('AppError', () => {
  it('carries no stack trace (it is an answer, not a bug) but keeps its cause', () => {
    const cause = new Error('driver failed');
    const error = new AppError('internal_error', 'x', { cause });
    expect(error.stack?.split('\n').length).toBe(1);
    expect(error.cause).toBe(cause);
    expect(new Error('ordinary').stack?.split('\n').length).toBeGreaterThan(1);
  });
});
