import { randomUUID } from 'node:crypto';
import { afterAll, describe, expect, it } from 'vitest';
import { MemoryStore } from '../src/ratelimit/memory-store.js';
import { RedisStore } from '../src/ratelimit/redis-store.js';
import type { RateLimitStore } from '../src/ratelimit/store.js';

const W = 60_000;
const REDIS_URL = process.env.REDIS_URL;
const opened: RateLimitStore[] = [];
afterAll(async () => {
  for (const s of opened) await s.close();
});

const kinds: [string, () => RateLimitStore][] = [
  ['memory', () => new MemoryStore()],
  ...(REDIS_URL === undefined
    ? []
    : [
        ['redis', () => new RedisStore(REDIS_URL, { keyPrefix: `gatehouse-test:${randomUUID()}:` })] as [
          string,
          () => RateLimitStore,
        ],
      ]),
];

/** The user's count and the address block in one store step (one Redis round trip). */
describe.each(kinds)('hitGuarded (%s store)', (_kind, make) => {
  const store = async () => {
    const s = make();
    opened.push(s);
    if (s instanceof RedisStore) expect(await s.ready(5000)).toBe(true);
    return s;
  };

  it('counts against the key while the guard is under its limit', async () => {
    const s = await store();
    await s.hit('guard', 3, W, 1000);
    const first = await s.hitGuarded('guard', 3, 'user', 2, W, 1001);
    expect(first.guard.allowed).toBe(true);
    expect(first.decision).toMatchObject({ allowed: true, remaining: 1 });
    const second = await s.hitGuarded('guard', 3, 'user', 2, W, 1002);
    expect(second.decision).toMatchObject({ allowed: true, remaining: 0 });
    const third = await s.hitGuarded('guard', 3, 'user', 2, W, 1003);
    expect(third.decision).toMatchObject({ allowed: false, remaining: 0, retryAfterMs: W - 2 });
  });

  it('refuses without counting anything when the guard is at its limit, until its hits leave the window', async () => {
    const s = await store();
    for (let i = 0; i < 3; i++) await s.hit('guard', 3, W, 1000 + i);
    const refused = await s.hitGuarded('guard', 3, 'user', 10, W, 2000);
    expect(refused.decision).toBeNull();
    expect(refused.guard).toMatchObject({ allowed: false, retryAfterMs: W - 1000 });
    expect((await s.peek('user', 10, W, 2000)).remaining).toBe(10);
    expect((await s.peek('guard', 3, W, 2000)).remaining).toBe(0);

    const later = await s.hitGuarded('guard', 3, 'user', 10, W, 1000 + W);
    expect(later.decision).toMatchObject({ allowed: true, remaining: 9 });
  });
});
