import type { Awaitable } from '../awaitable.js';

/**
 * Rate-limit stores keep a sliding log: the time of every accepted request within the last
 * window. A request is accepted while fewer than `limit` requests were accepted in the
 * `windowMs` before it, so no window of that length, wherever it starts, ever holds more
 * than `limit` accepted requests. See docs/adr/0005-rate-limit-algorithm.md.
 */
export interface Decision {
  allowed: boolean;
  limit: number;
  /** Requests still allowed right now; never negative. */
  remaining: number;
  /** Milliseconds until the oldest counted request leaves the window (0 when none is counted). */
  resetMs: number;
  /** Milliseconds to wait before a request would be accepted; 0 when allowed. */
  retryAfterMs: number;
}

/** `decision` is null when the guard refused, and then nothing was counted. */
export interface GuardedDecision {
  guard: Decision;
  decision: Decision | null;
}

/** The decisions a request waits for are `Awaitable`: the in-process store answers at once. */
export interface RateLimitStore {
  /** Counts one request against `key` if it fits, and reports the state either way. */
  hit(key: string, limit: number, windowMs: number, nowMs: number): Awaitable<Decision>;
  /**
   * In one step: refuses when `guardKey` is at `guardLimit` (without counting anything), else
   * counts one request against `key` as `hit` does. Both are counted over `windowMs`.
   */
  hitGuarded(
    guardKey: string,
    guardLimit: number,
    key: string,
    limit: number,
    windowMs: number,
    nowMs: number,
  ): Awaitable<GuardedDecision>;
  /** Reports the state without counting. */
  peek(key: string, limit: number, windowMs: number, nowMs: number): Promise<Decision>;
  /** Forgets every request counted under `key`. */
  reset(key: string): Promise<void>;
  close(): Promise<void>;
}

/** The decision for a log whose oldest counted request is at `oldestMs` (null when empty). */
export function decide(
  allowed: boolean,
  count: number,
  oldestMs: number | null,
  limit: number,
  windowMs: number,
  nowMs: number,
): Decision {
  const resetMs = oldestMs === null ? 0 : Math.max(0, oldestMs + windowMs - nowMs);
  return {
    allowed,
    limit,
    remaining: Math.max(0, limit - count),
    resetMs,
    retryAfterMs: allowed ? 0 : Math.max(1, resetMs),
  };
}
