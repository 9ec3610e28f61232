import { randomUUID } from 'node:crypto';
import { afterAll, describe, expect, it } from 'vitest';
import { MemoryStore } from '../src/ratelimit/memory-store.js';
import { RedisStore, STEPS_PER_CALL } from '../src/ratelimit/redis-store.js';
import type { GuardedDecision, RateLimitStore } from '../src/ratelimit/store.js';

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

  it('decides many requests asked for at once exactly as if they came one after another', async () => {
    const s = await store();
    const asked = Array.from({ length: 150 }, (_, i) =>
      i % 3 === 0 ? s.hit('other', 1000, W, 5000 + i) : s.hitGuarded('guard', 3, 'user', 60, W, 5000 + i),
    );
    const guarded = (await Promise.all(asked)).filter((_, i) => i % 3 !== 0) as GuardedDecision[];
    const allowed = guarded.filter((d) => d.decision?.allowed === true);
    expect(allowed).toHaveLength(60);
    // Each remaining count once, in the order asked: 59, 58, …, 0, then refusals.
    expect(guarded.map((d) => d.decision?.remaining)).toEqual([
      ...Array.from({ length: 60 }, (_, i) => 59 - i),
      ...Array(40).fill(0),
    ]);
    expect((await s.peek('other', 1000, W, 6000)).remaining).toBe(1000 - 50);
  });
});

describe.skipIf(REDIS_URL === undefined)('the Redis store under load', () => {
  it('sends the decisions asked for in one turn as one script call per STEPS_PER_CALL', async () => {
    const s = new RedisStore(REDIS_URL as string, { keyPrefix: `gatehouse-test:${randomUUID()}:` });
    opened.push(s);
    expect(await s.ready(5000)).toBe(true);
    const sent = s.client.rateLimitSteps.bind(s.client);
    let calls = 0;
    s.client.rateLimitSteps = (...args) => {
      calls++;
      return sent(...args);
    };
    const n = STEPS_PER_CALL + 10;
    const decisions = await Promise.all(Array.from({ length: n }, (_, i) => s.hit(`k${i % 7}`, 100, W, 9000 + i)));
    expect(calls).toBe(2);
    expect(decisions.every((d) => d.allowed)).toBe(true);
  });
});
