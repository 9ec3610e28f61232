import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { type Decision, decide, type RateLimitStore } from './store.js';

/**
 * One atomic step of the sliding log in a Redis sorted set (score = request time in ms).
 * KEYS[1] the log; ARGV: now, window, limit, member to add (empty for a peek).
 * Returns { allowed (1/0), count after the step, oldest score or -1 }.
 */
const SLIDING_LOG = `
local now = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
local limit = tonumber(ARGV[3])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
local count = redis.call('ZCARD', KEYS[1])
local allowed = 0
if count < limit then
  allowed = 1
  if ARGV[4] ~= '' then
    redis.call('ZADD', KEYS[1], now, ARGV[4])
    redis.call('PEXPIRE', KEYS[1], window)
    count = count + 1
  end
end
local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
if oldest[2] == nil then return { allowed, count, -1 } end
return { allowed, count, tonumber(oldest[2]) }
`;

type SlidingLogReply = [number, number, number];

interface SlidingLogClient extends Redis {
  slidingLog(key: string, now: number, window: number, limit: number, member: string): Promise<SlidingLogReply>;
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
    });
    client.on('error', () => {
      // Reported through failed commands; an unhandled 'error' event would crash the process.
    });
    client.defineCommand('slidingLog', { numberOfKeys: 1, lua: SLIDING_LOG });
    this.client = client as SlidingLogClient;
  }

  private async run(key: string, limit: number, windowMs: number, nowMs: number, count: boolean): Promise<Decision> {
    const member = count ? `${nowMs}:${this.nodeId}:${this.seq++}` : '';
    const [allowed, n, oldest] = await this.client.slidingLog(key, nowMs, windowMs, limit, member);
    return decide(allowed === 1, n, oldest === -1 ? null : oldest, limit, windowMs, nowMs);
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
