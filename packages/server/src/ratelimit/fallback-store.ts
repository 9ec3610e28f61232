import type { FastifyBaseLogger } from 'fastify';
import type { Awaitable } from '../awaitable.js';
import type { Decision, GuardedDecision, RateLimitStore } from './store.js';

/**
 * Uses the shared store and, while it fails, a per-node one: limits stay in force (per node)
 * and authentication is never affected. Each failure is counted; the error is logged at most
 * every ten seconds; the shared store is used again as soon as it answers.
 */
export class FallbackStore implements RateLimitStore {
  private lastLogged = 0;
  private degraded = false;

  constructor(
    private readonly primary: RateLimitStore,
    private readonly fallback: RateLimitStore,
    private readonly log: FastifyBaseLogger,
    private readonly onFallback: () => void,
  ) {}

  private async either<T>(op: (store: RateLimitStore) => Awaitable<T>): Promise<T> {
    try {
      const decision = await op(this.primary);
      if (this.degraded) {
        this.degraded = false;
        this.log.warn('rate-limit store is back; shared limits apply again');
      }
      return decision;
    } catch (err) {
      this.degraded = true;
      this.onFallback();
      const now = Date.now();
      if (now - this.lastLogged > 10_000) {
        this.lastLogged = now;
        this.log.error({ err }, 'rate-limit store unreachable; using per-node limits until it is back');
      }
      return op(this.fallback);
    }
  }

  hit(key: string, limit: number, windowMs: number, nowMs: number): Promise<Decision> {
    return this.either((s) => s.hit(key, limit, windowMs, nowMs));
  }

  peek(key: string, limit: number, windowMs: number, nowMs: number): Promise<Decision> {
    return this.either((s) => s.peek(key, limit, windowMs, nowMs));
  }

  hitGuarded(
    guardKey: string,
    guardLimit: number,
    key: string,
    limit: number,
    windowMs: number,
    nowMs: number,
  ): Promise<GuardedDecision> {
    return this.either((s) => s.hitGuarded(guardKey, guardLimit, key, limit, windowMs, nowMs));
  }

  async reset(key: string): Promise<void> {
    await Promise.all([this.primary.reset(key).catch(() => this.onFallback()), this.fallback.reset(key)]);
  }

  get isDegraded(): boolean {
    return this.degraded;
  }

  async close(): Promise<void> {
    await Promise.all([this.primary.close(), this.fallback.close()]);
  }
}
