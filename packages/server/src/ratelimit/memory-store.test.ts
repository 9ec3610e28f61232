import { afterEach, describe, expect, it } from 'vitest';
import { MemoryStore } from './memory-store.js';

const W = 60_000;
const stores: MemoryStore[] = [];
const store = (now = () => 0) => {
  const s = new MemoryStore(now);
  stores.push(s);
  return s;
};
afterEach(async () => {
  for (const s of stores.splice(0)) await s.close();
});

describe('sliding-log memory store', () => {
  it('lets exactly the limit through from 61 quick requests', async () => {
    const s = store();
    const results = [];
    for (let i = 0; i < 61; i++) results.push(await s.hit('k', 60, W, 1000 + i));
    expect(results.filter((r) => r.allowed)).toHaveLength(60);
    expect(results[60]?.allowed).toBe(false);
    expect(results.map((r) => r.remaining)).toEqual([...Array.from({ length: 60 }, (_, i) => 59 - i), 0]);
  });

  it('accepts again exactly when Retry-After has passed, not before', async () => {
    const s = store();
    for (let i = 0; i < 60; i++) await s.hit('k', 60, W, 1000);
    const refused = await s.hit('k', 60, W, 31_000);
    expect(refused.allowed).toBe(false);
    expect(refused.retryAfterMs).toBe(30_000);
    expect((await s.hit('k', 60, W, 31_000 + refused.retryAfterMs - 1)).allowed).toBe(false);
    expect((await s.hit('k', 60, W, 31_000 + refused.retryAfterMs)).allowed).toBe(true);
  });

  it('holds the bound across a window edge where a fixed window lets twice the limit through', async () => {
    const s = store();
    let accepted = 0;
    for (let i = 0; i < 60; i++) if ((await s.hit('k', 60, W, 59_000 + i)).allowed) accepted++;
    for (let i = 0; i < 60; i++) if ((await s.hit('k', 60, W, 61_000 + i)).allowed) accepted++;
    expect(accepted).toBe(60);
  });

  it('never accepts more than the limit in any window, whatever the arrival pattern', async () => {
    const s = store();
    let seed = 42;
    const random = () => {
      seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31;
      return seed / 2 ** 31;
    };
    const accepted: number[] = [];
    let t = 0;
    for (let i = 0; i < 5000; i++) {
      t += Math.floor(random() * (random() < 0.1 ? 5000 : 400));
      if ((await s.hit('k', 50, W, t)).allowed) accepted.push(t);
    }
    let worst = 0;
    for (let i = 0, j = 0; i < accepted.length; i++) {
      while ((accepted[i] as number) - (accepted[j] as number) >= W) j++;
      worst = Math.max(worst, i - j + 1);
    }
    expect(worst).toBe(50);
  });

  it('applies a changed limit on the very next request', async () => {
    const s = store();
    for (let i = 0; i < 10; i++) await s.hit('k', 10, W, 0);
    expect((await s.hit('k', 10, W, 1)).allowed).toBe(false);
    expect((await s.hit('k', 20, W, 2)).allowed).toBe(true);
    expect((await s.hit('k', 5, W, 3)).remaining).toBe(0);
  });

  it('keeps keys apart, peeks without counting, and reports the reset time', async () => {
    const s = store();
    await s.hit('a', 2, W, 0);
    await s.hit('a', 2, W, 10_000);
    expect((await s.hit('b', 2, W, 10_000)).allowed).toBe(true);
    const peek = await s.peek('a', 2, W, 20_000);
    expect(peek).toEqual({ allowed: false, limit: 2, remaining: 0, resetMs: 40_000, retryAfterMs: 40_000 });
    expect((await s.peek('a', 2, W, 20_000)).remaining).toBe(0);
    expect((await s.peek('c', 2, W, 0)).remaining).toBe(2);
  });

  it('forgets idle keys when swept', async () => {
    let now = 0;
    const s = store(() => now);
    await s.hit('idle', 5, W, 0);
    await s.hit('busy', 5, W, 50_000);
    await s.hit('long window', 5, 15 * W, 0);
    now = 70_000;
    s.sweep();
    expect(s.size).toBe(2);
    expect((await s.peek('long window', 5, 15 * W, now)).remaining).toBe(4);
  });

  it('keeps a busy key in the same buffer window after window, and gives back what a burst left', async () => {
    let now = 0;
    const s = store(() => now);
    // One request every 10 ms for three windows: 6,000 in each window, far under the limit.
    for (; now < 3 * W; now += 10) expect((await s.hit('busy', 100_000, W, now)).allowed).toBe(true);
    expect((await s.peek('busy', 100_000, W, now)).remaining).toBe(100_000 - 5999); // the window (120 s, 180 s] holds 5,999
    expect(s.capacityOf('busy')).toBe(8192); // the smallest power of two that holds a window
    // Then a trickle: a sweep gives the space back, keeping what is still in the window.
    const end = now;
    for (; now < end + W; now += 1000) await s.hit('busy', 100_000, W, now);
    s.sweep();
    expect(s.capacityOf('busy')).toBe(128);
    expect((await s.peek('busy', 100_000, W, now)).remaining).toBe(100_000 - 59);
  });
});
