import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { type Decision, decide, type GuardedDecision, type RateLimitStore } from './store.js';

/**
 * One step of the sliding log in a Redis sorted set (score = request time in ms): drop what left
 * the window, then count `member` if it fits (an empty member only looks).
 * Returns { allowed (1/0), count after the step, oldest score or -1 }.
 */
const SLIDE = `
local function slide(key, now, window, limit, member)
  redis.call('ZREMRANGEBYSCORE', key, '-inf', now - window)
  local count = redis.call('ZCARD', key)
  local allowed = 0
  if count < limit then
    allowed = 1
    if member ~= '' then
      redis.call('ZADD', key, now, member)
      redis.call('PEXPIRE', key, window)
      count = count + 1
    end
  end
  local oldest = redis.call('ZRANGE', key, 0, 0, 'WITHSCORES')
  if oldest[2] == nil then return { allowed, count, -1 } end
  return { allowed, count, tonumber(oldest[2]) }
end
`;

/** KEYS[1] the log; ARGV: now, window, limit, member. Atomic, as every script is. */
const SLIDING_LOG = `${SLIDE}
return slide(KEYS[1], tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), ARGV[4])
`;

/**
 * KEYS[1] the guard, KEYS[2] the log; ARGV: now, window, guard limit, limit, member. Looks at the
 * guard and, only if it is under its limit, counts in the log: one round trip for both.
 * Returns the guard's three numbers, then the log's (or { 0, 0, -1 } when the guard refused).
 */
const GUARDED_LOG = `${SLIDE}
local now = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
local guard = slide(KEYS[1], now, window, tonumber(ARGV[3]), '')
if guard[1] == 0 then return { guard[1], guard[2], guard[3], 0, 0, -1 } end
local log = slide(KEYS[2], now, window, tonumber(ARGV[4]), ARGV[5])
return { guard[1], guard[2], guard[3], log[1], log[2], log[3] }
`;

type SlidingLogReply = [number, number, number];
type GuardedLogReply = [number, number, number, number, number, number];

interface SlidingLogClient extends Redis {
  slidingLog(key: string, now: number, window: number, limit: number, member: string): Promise<SlidingLogReply>;
  guardedLog(
    guardKey: string,
    key: string,
    now: number,
    window: number,
    guardLimit: number,
    limit: number,
    member: string,
  ): Promise<GuardedLogReply>;
}

/** The shared store: every node that points at the same Redis shares every limit. */
export class RedisStore implements RateLimitStore {
  readonly client: SlidingLogClient;
  private seq = 0;
  private readonly nodeId = randomBytes(4).toString('hex');

  constructor(url: string, options: { keyPrefix?: string; commandTimeoutMs?: number } = {}) {
    const client = new Redis(url, {
      keyPrefix: options.keyPrefix ?? 'gatehouse:rl:',
      // Fail fast while disconnected (the caller falls back) and keep reconnecting in the background.
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      commandTimeout: options.commandTimeoutMs ?? 250,
      retryStrategy: (attempt) => Math.min(attempt * 200, 2000),
      lazyConnect: false,
      // Commands issued in the same turn of the event loop go out in one write: under load, one
      // system call carries many requests' decisions instead of one each.
      enableAutoPipelining: true,
    });
    client.on('error', () => {
      // Reported through failed commands; an unhandled 'error' event would crash the process.
    });
    client.defineCommand('slidingLog', { numberOfKeys: 1, lua: SLIDING_LOG });
    client.defineCommand('guardedLog', { numberOfKeys: 2, lua: GUARDED_LOG });
    this.client = client as SlidingLogClient;
  }

  private member(nowMs: number): string {
    return `${nowMs}:${this.nodeId}:${this.seq++}`;
  }

  private async run(key: string, limit: number, windowMs: number, nowMs: number, count: boolean): Promise<Decision> {
    const [allowed, n, oldest] = await this.client.slidingLog(
      key,
      nowMs,
      windowMs,
      limit,
      count ? this.member(nowMs) : '',
    );
    return decide(allowed === 1, n, oldest === -1 ? null : oldest, limit, windowMs, nowMs);
  }

  async hitGuarded(
    guardKey: string,
    guardLimit: number,
    key: string,
    limit: number,
    windowMs: number,
    nowMs: number,
  ): Promise<GuardedDecision> {
    const [gAllowed, gCount, gOldest, allowed, n, oldest] = await this.client.guardedLog(
      guardKey,
      key,
      nowMs,
      windowMs,
      guardLimit,
      limit,
      this.member(nowMs),
    );
    const guard = decide(gAllowed === 1, gCount, gOldest === -1 ? null : gOldest, guardLimit, windowMs, nowMs);
    if (!guard.allowed) return { guard, decision: null };
    return { guard, decision: decide(allowed === 1, n, oldest === -1 ? null : oldest, limit, windowMs, nowMs) };
  }

  /** Resolves true once connected, false if that takes longer than `timeoutMs`. */
  ready(timeoutMs: number): Promise<boolean> {
    if (this.client.status === 'ready') return Promise.resolve(true);
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.client.off('ready', onReady);
        resolve(false);
      }, timeoutMs);
      const onReady = () => {
        clearTimeout(timer);
        resolve(true);
      };
      this.client.once('ready', onReady);
    });
  }

  hit(key: string, limit: number, windowMs: number, nowMs: number): Promise<Decision> {
    return this.run(key, limit, windowMs, nowMs, true);
  }

  peek(key: string, limit: number, windowMs: number, nowMs: number): Promise<Decision> {
    return this.run(key, limit, windowMs, nowMs, false);
  }

  async reset(key: string): Promise<void> {
    await this.client.del(key);
  }

  async close(): Promise<void> {
    this.client.disconnect();
  }
}
