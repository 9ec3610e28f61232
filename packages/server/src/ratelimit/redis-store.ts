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

/**
 * Many steps in one call, in order, as if each were its own call (a script runs atomically, so
 * none of another node's steps comes between them). Step i has KEYS[2i-1] a guard and KEYS[2i]
 * a log, and five ARGV: now, window, guard limit, limit, member. A guard limit of -1 means no
 * guard; otherwise the guard is looked at and, only if it is under its limit, the log counts
 * `member` (an empty member only looks). Returns six numbers a step: the guard's three, then
 * the log's (or { 0, 0, -1 } when the guard refused).
 */
const STEPS = `${SLIDE}
local out = {}
for i = 1, #KEYS / 2 do
  local a = (i - 1) * 5
  local now = tonumber(ARGV[a + 1])
  local window = tonumber(ARGV[a + 2])
  local guardLimit = tonumber(ARGV[a + 3])
  local guard = { 1, 0, -1 }
  if guardLimit >= 0 then guard = slide(KEYS[2 * i - 1], now, window, guardLimit, '') end
  local log = { 0, 0, -1 }
  if guard[1] == 1 then log = slide(KEYS[2 * i], now, window, tonumber(ARGV[a + 4]), ARGV[a + 5]) end
  for j = 1, 3 do out[#out + 1] = guard[j] end
  for j = 1, 3 do out[#out + 1] = log[j] end
end
return out
`;

/** Steps sent in one script call at most; a busier turn is sent as several calls. */
export const STEPS_PER_CALL = 64;

interface StepsClient extends Redis {
  /** `keys` is twice the number of steps; the arguments follow the keys. */
  rateLimitSteps(keys: number, ...keysThenArgs: (string | number)[]): Promise<number[]>;
}

/** One decision asked of the turn's script call. */
interface Ask {
  guardKey: string;
  /** -1: no guard. */
  guardLimit: number;
  key: string;
  limit: number;
  windowMs: number;
  nowMs: number;
  /** Empty: only look. */
  member: string;
}

/** An ask waiting for its call's reply. */
interface Step {
  ask: Ask;
  resolve: (reply: GuardedDecision) => void;
  reject: (err: unknown) => void;
}

/** The decision in a call's reply at `at` (three numbers: allowed, count, oldest or -1). */
function decisionAt(reply: number[], at: number, limit: number, windowMs: number, nowMs: number): Decision {
  const oldest = reply[at + 2] as number;
  return decide(reply[at] === 1, reply[at + 1] as number, oldest === -1 ? null : oldest, limit, windowMs, nowMs);
}

/**
 * The shared store: every node that points at the same Redis shares every limit.
 *
 * The decisions asked for in one turn of the event loop go to Redis together, as one script
 * call (up to STEPS_PER_CALL steps), instead of a command each: ioredis spends more CPU on a
 * command (its object, its promise, its reply) than Redis spends on the step, so under load
 * this takes most of the client's share of a request (docs/benchmarks.md).
 */
export class RedisStore implements RateLimitStore {
  readonly client: StepsClient;
  private seq = 0;
  private readonly nodeId = randomBytes(4).toString('hex');
  private waiting: Step[] = [];

  constructor(url: string, options: { keyPrefix?: string; commandTimeoutMs?: number } = {}) {
    const client = new Redis(url, {
      keyPrefix: options.keyPrefix ?? 'gatehouse:rl:',
      // Fail fast while disconnected (the caller falls back) and keep reconnecting in the background.
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      commandTimeout: options.commandTimeoutMs ?? 250,
      retryStrategy: (attempt) => Math.min(attempt * 200, 2000),
      lazyConnect: false,
      // The store gathers a turn's decisions itself (see `send`); a second round of gathering
      // in ioredis would only hold the call back for another turn.
      enableAutoPipelining: false,
    });
    client.on('error', () => {
      // Reported through failed commands; an unhandled 'error' event would crash the process.
    });
    client.defineCommand('rateLimitSteps', { lua: STEPS });
    this.client = client as StepsClient;
  }

  private member(nowMs: number): string {
    return `${nowMs}:${this.nodeId}:${this.seq++}`;
  }

  /** Queues `ask` for this turn's call. */
  private step(ask: Ask): Promise<GuardedDecision> {
    return new Promise<GuardedDecision>((resolve, reject) => {
      if (this.waiting.length === 0) setImmediate(() => this.send());
      this.waiting.push({ ask, resolve, reject });
    });
  }

  /** Sends the turn's steps, STEPS_PER_CALL to a call, and answers each from its call's reply. */
  private send(): void {
    const steps = this.waiting;
    this.waiting = [];
    for (let from = 0; from < steps.length; from += STEPS_PER_CALL) {
      const call = steps.slice(from, from + STEPS_PER_CALL);
      const keys: string[] = [];
      const args: (string | number)[] = [];
      for (const { ask } of call) {
        keys.push(ask.guardKey, ask.key);
        args.push(ask.nowMs, ask.windowMs, ask.guardLimit, ask.limit, ask.member);
      }
      this.client.rateLimitSteps(keys.length, ...keys, ...args).then(
        (reply) => {
          for (const [i, { ask, resolve }] of call.entries()) {
            const { guardLimit, limit, windowMs, nowMs } = ask;
            const guard = decisionAt(reply, i * 6, guardLimit, windowMs, nowMs);
            const decision = guard.allowed ? decisionAt(reply, i * 6 + 3, limit, windowMs, nowMs) : null;
            resolve({ guard, decision });
          }
        },
        (err: unknown) => {
          for (const { reject } of call) reject(err);
        },
      );
    }
  }

  private async run(key: string, limit: number, windowMs: number, nowMs: number, count: boolean): Promise<Decision> {
    const member = count ? this.member(nowMs) : '';
    const { decision } = await this.step({ guardKey: key, guardLimit: -1, key, limit, windowMs, nowMs, member });
    return decision as Decision; // without a guard there is always a decision
  }

  hitGuarded(
    guardKey: string,
    guardLimit: number,
    key: string,
    limit: number,
    windowMs: number,
    nowMs: number,
  ): Promise<GuardedDecision> {
    return this.step({ guardKey, guardLimit, key, limit, windowMs, nowMs, member: this.member(nowMs) });
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
