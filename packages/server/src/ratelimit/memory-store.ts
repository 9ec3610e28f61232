import { type Decision, decide, type GuardedDecision, type RateLimitStore } from './store.js';

/**
 * 8 doubles are 64 bytes, small enough for V8 to keep on its own heap, where they are cheap to
 * make: a flood from ever new addresses makes one per address.
 */
const INITIAL_CAPACITY = 8;

/**
 * The times of one key's accepted requests, oldest first, in a ring buffer: expiring the oldest
 * only moves the head, and the buffer doubles when full, so under steady traffic a key's memory
 * stays the same size and nothing is copied or left behind for the garbage collector. (An
 * array trimmed by `slice` copied up to a whole window's worth of times, which at high limits
 * made the heap climb in steps.) The capacity is a power of two, at most twice the largest
 * limit the key has been counted against; idle space is given back when swept.
 */
class SlidingLog {
  private times = new Float64Array(INITIAL_CAPACITY);
  private head = 0;
  count = 0;

  /** The window this key is counted over, so a sweep keeps what is still inside it. */
  constructor(public windowMs: number) {}

  get oldest(): number | null {
    return this.count === 0 ? null : (this.times[this.head] as number);
  }

  get capacity(): number {
    return this.times.length;
  }

  get newest(): number | null {
    return this.count === 0 ? null : (this.times[(this.head + this.count - 1) & (this.times.length - 1)] as number);
  }

  /** Forgets the times at or before `cutoff`. */
  expire(cutoff: number): void {
    const mask = this.times.length - 1;
    while (this.count > 0 && (this.times[this.head] as number) <= cutoff) {
      this.head = (this.head + 1) & mask;
      this.count--;
    }
  }

  push(time: number): void {
    if (this.count === this.times.length) this.resize(this.times.length * 2);
    this.times[(this.head + this.count) & (this.times.length - 1)] = time;
    this.count++;
  }

  /** Gives back space a burst left unused: down to twice what is held now. */
  shrink(): void {
    let capacity = INITIAL_CAPACITY;
    while (capacity < this.count * 2) capacity *= 2;
    if (capacity * 2 <= this.times.length) this.resize(capacity);
  }

  private resize(capacity: number): void {
    const next = new Float64Array(capacity);
    const mask = this.times.length - 1;
    for (let i = 0; i < this.count; i++) next[i] = this.times[(this.head + i) & mask] as number;
    this.times = next;
    this.head = 0;
  }
}

/** The in-process store: one node, no dependencies. Idle keys are swept once a minute. */
export class MemoryStore implements RateLimitStore {
  private readonly logs = new Map<string, SlidingLog>();
  private readonly sweeper: NodeJS.Timeout;

  constructor(private readonly now: () => number = Date.now) {
    this.sweeper = setInterval(() => this.sweep(), 60_000);
    this.sweeper.unref();
  }

  private trimmed(key: string, windowMs: number, nowMs: number): SlidingLog {
    let log = this.logs.get(key);
    if (log === undefined) {
      log = new SlidingLog(windowMs);
      this.logs.set(key, log);
    }
    log.windowMs = windowMs;
    log.expire(nowMs - windowMs);
    return log;
  }

  private hitNow(key: string, limit: number, windowMs: number, nowMs: number): Decision {
    const log = this.trimmed(key, windowMs, nowMs);
    const count = log.count;
    const allowed = count < limit;
    if (allowed) log.push(nowMs);
    return decide(allowed, allowed ? count + 1 : count, log.oldest, limit, windowMs, nowMs);
  }

  private peekNow(key: string, limit: number, windowMs: number, nowMs: number): Decision {
    if (!this.logs.has(key)) return decide(true, 0, null, limit, windowMs, nowMs);
    const log = this.trimmed(key, windowMs, nowMs);
    return decide(log.count < limit, log.count, log.oldest, limit, windowMs, nowMs);
  }

  hit(key: string, limit: number, windowMs: number, nowMs: number): Decision {
    return this.hitNow(key, limit, windowMs, nowMs);
  }

  hitGuarded(
    guardKey: string,
    guardLimit: number,
    key: string,
    limit: number,
    windowMs: number,
    nowMs: number,
  ): GuardedDecision {
    const guard = this.peekNow(guardKey, guardLimit, windowMs, nowMs);
    return { guard, decision: guard.allowed ? this.hitNow(key, limit, windowMs, nowMs) : null };
  }

  async peek(key: string, limit: number, windowMs: number, nowMs: number): Promise<Decision> {
    return this.peekNow(key, limit, windowMs, nowMs);
  }

  async reset(key: string): Promise<void> {
    this.logs.delete(key);
  }

  /** Drops keys whose every request has left the window, and gives back space bursts left unused. */
  sweep(): void {
    const now = this.now();
    for (const [key, log] of this.logs) {
      const newest = log.newest;
      if (newest === null || newest <= now - log.windowMs) {
        this.logs.delete(key);
      } else {
        log.expire(now - log.windowMs);
        log.shrink();
      }
    }
  }

  /** How many times the buffer of `key` has room for (for tests). */
  capacityOf(key: string): number {
    return this.logs.get(key)?.capacity ?? 0;
  }

  get size(): number {
    return this.logs.size;
  }

  async close(): Promise<void> {
    clearInterval(this.sweeper);
    this.logs.clear();
  }
}
