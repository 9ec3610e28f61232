import type { FastifyPluginAsync } from 'fastify';
import { Counter, Registry } from 'prom-client';

/** One registry per app, so several apps in one process (tests) keep their own counts. */
export function createMetrics() {
  const registry = new Registry();
  return {
    registry,
    rateLimited: new Counter({
      name: 'gatehouse_rate_limited_total',
      help: 'Requests refused with 429, by policy',
      labelNames: ['policy'] as const,
      registers: [registry],
    }),
    rateLimitFallbacks: new Counter({
      name: 'gatehouse_rate_limit_store_fallbacks_total',
      help: 'Rate-limit decisions made by the per-node fallback because the shared store (Redis) failed',
      registers: [registry],
    }),
    logLinesDropped: new Counter({
      name: 'gatehouse_log_lines_dropped_total',
      help: 'Log lines dropped because standard output could not keep up (more than 16 MiB waiting)',
      registers: [registry],
    }),
  };
}

export type Metrics = ReturnType<typeof createMetrics>;

export const metricsRoutes: FastifyPluginAsync<{ registry: Registry }> = async (app, { registry }) => {
  app.get('/metrics', { schema: { hide: true } }, async (_request, reply) =>
    reply.type(registry.contentType).send(await registry.metrics()),
  );
};
