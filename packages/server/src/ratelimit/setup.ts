import type { FastifyBaseLogger } from 'fastify';
import type { Counter } from 'prom-client';
import type { Clock } from '../clock.js';
import { FallbackStore } from './fallback-store.js';
import { createRateLimiter, type Policy, type RateLimiter } from './limiter.js';
import { MemoryStore } from './memory-store.js';
import { RedisStore } from './redis-store.js';
import type { RateLimitStore } from './store.js';

export interface RateLimitSetup {
  limiter: RateLimiter;
  store: RateLimitStore;
  /** Waits (briefly) for the shared store, so a fresh node starts on shared limits. */
  ready: (timeoutMs: number) => Promise<boolean>;
}

export interface RateLimitSetupDeps {
  redisUrl: string | null;
  clock: Clock;
  log: FastifyBaseLogger;
  limited: Counter<'policy'>;
  fallbacks: Counter;
}

/** In memory for one node; Redis (with a per-node fallback) when REDIS_URL is set. */
export function setUpRateLimits({ redisUrl, clock, log, limited, fallbacks }: RateLimitSetupDeps): RateLimitSetup {
  const memory = new MemoryStore(() => clock.now().getTime());
  const redis = redisUrl === null ? null : new RedisStore(redisUrl);
  const store = redis === null ? memory : new FallbackStore(redis, memory, log, () => fallbacks.inc());
  // One counter child per policy, made once: labelling on every refusal hashed the labels each time.
  const byPolicy = new Map<Policy, { inc(): void }>();
  const onLimited = (policy: Policy) => {
    let counter = byPolicy.get(policy);
    if (counter === undefined) {
      counter = limited.labels({ policy });
      byPolicy.set(policy, counter);
    }
    counter.inc();
  };
  const limiter = createRateLimiter({ store, clock, onLimited });
  return { limiter, store, ready: async (timeoutMs) => (redis === null ? true : redis.ready(timeoutMs)) };
}
