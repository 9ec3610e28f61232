import { type Decision, decide, type GuardedDecision, type RateLimitStore } from './store.js';

interface Log {
  /** Accepted request times, oldest first; entries before `head` are expired. */
  times: number[];
  head: number;
  /** The window this key is counted over, so a sweep keeps what is still inside it. */
  windowMs: number;
}

/** The in-process store: one node, no dependencies. Idle keys are swept once a minute. */
export class MemoryStore implements RateLimitStore {
  private readonly logs = new Map<string, Log>();
  private readonly sweeper: NodeJS.Timeout;

  constructor(private readonly now: () => number = Date.now) {
    this.sweeper = setInterval(() => this.sweep(), 60_000);
    this.sweeper.unref();
  }

  private trimmed(key: string, windowMs: number, nowMs: number): Log {
    let log = this.logs.get(key);
    if (log === undefined) {
      log = { times: [], head: 0, windowMs };
      this.logs.set(key, log);
    }
    log.windowMs = windowMs;
    const cutoff = nowMs - windowMs;
    while (log.head < log.times.length && (log.times[log.head] as number) <= cutoff) log.head++;
    if (log.head > 64 && log.head * 2 > log.times.length) {
      log.times = log.times.slice(log.head);
      log.head = 0;
    }
    return log;
  }

  private hitNow(key: string, limit: number, windowMs: number, nowMs: number): Decision {
    const log = this.trimmed(key, windowMs, nowMs);
    const count = log.times.length - log.head;
    const allowed = count < limit;
    if (allowed) log.times.push(nowMs);
    const oldest = log.times[log.head] ?? null;
    return decide(allowed, allowed ? count + 1 : count, oldest, limit, windowMs, nowMs);
  }

  private peekNow(key: string, limit: number, windowMs: number, nowMs: number): Decision {
    if (!this.logs.has(key)) return decide(true, 0, null, limit, windowMs, nowMs);
    const log = this.trimmed(key, windowMs, nowMs);
    const count = log.times.length - log.head;
    return decide(count < limit, count, log.times[log.head] ?? null, limit, windowMs, nowMs);
  }

  async hit(key: string, limit: number, windowMs: number, nowMs: number): Promise<Decision> {
    return this.hitNow(key, limit, windowMs, nowMs);
  }

  async hitGuarded(
    guardKey: string,
    guardLimit: number,
    key: string,
    limit: number,
    windowMs: number,
    nowMs: number,
  ): Promise<GuardedDecision> {
    const guard = this.peekNow(guardKey, guardLimit, windowMs, nowMs);
    return { guard, decision: guard.allowed ? this.hitNow(key, limit, windowMs, nowMs) : null };
  }

  async peek(key: string, limit: number, windowMs: number, nowMs: number): Promise<Decision> {
    return this.peekNow(key, limit, windowMs, nowMs);
  }

  async reset(key: string): Promise<void> {
    this.logs.delete(key);
  }

  /** Drops keys whose every request has left the window. */
  sweep(): void {
    const now = this.now();
    for (const [key, log] of this.logs) {
      const newest = log.times[log.times.length - 1];
      if (newest === undefined || newest <= now - log.windowMs) this.logs.delete(key);
    }
  }

  get size(): number {
    return this.logs.size;
  }

  async close(): Promise<void> {
    clearInterval(this.sweeper);
    this.logs.clear();
  }
}
