// The staircase from the limit to Gatehouse: Fastify answering a Gatehouse-sized JSON:API body on
// GET /core/users/me, with no auth, adding one piece of Gatehouse's production set-up per flag:
//   STAIR_LOGGER=1    pino at info, to Gatehouse's batched log output (packages/server/dist, so
//                     build first), a request id (UUID) per request
//   STAIR_HOOKS=1     the three onRequest hooks a /core request passes (request id header; media
//                     type and Api-Version; one asynchronous step) and the eight response headers
//   STAIR_LOGLINE=1   the one JSON log line per request, written by Gatehouse's own request-log
//                     hook (packages/server/dist) to the logger's output (needs STAIR_LOGGER)
//   STAIR_AUTH=1      the calibration work in the route: hash the bearer token, look it up
//                     in a Map, bump a counter, and the rate-limit headers from that count
//   STAIR_REFUSE=1    answer 429 through Fastify's error handler instead (a blocked address)
//   STAIR_REFERENCE=1 the calibration route instead: GET /core/users/me hashes the bearer
//                     token, looks it up in a Map, bumps an in-memory counter and answers a small
//                     JSON object (the Map learns each token on first sight, so it stays warm)
// With every flag but the last two it is the floor: what any Fastify app costs that answers with
// Gatehouse's headers, body and log line and has nothing but a Map behind its tokens.
// Run it through bench/ab.mjs (see docs/benchmarks.md); what is left between the last step and
// gatehouse is authentication, the rate limit and the route itself.
import { hash, randomUUID } from 'node:crypto';
import Fastify from 'fastify';
import pino from 'pino';

const on = (/** @type {string} */ name) => process.env[name] === '1';
if (on('STAIR_LOGLINE') && !on('STAIR_LOGGER')) throw new Error('STAIR_LOGLINE needs STAIR_LOGGER');

// Gatehouse's own log output and request line (built): a turn's lines handed over as one buffer.
const gatehouse = on('STAIR_LOGGER')
  ? {
      ...(await import('../../packages/server/dist/logging.js')),
      ...(await import('../../packages/server/dist/http/request-log.js')),
    }
  : null;
const destination = gatehouse?.standardOutput(() => {}) ?? null;
const logger = destination === null ? null : pino({ level: 'info' }, destination);
const app = Fastify(
  logger === null
    ? { logger: false }
    : { loggerInstance: logger, disableRequestLogging: true, genReqId: () => randomUUID() },
);

if (on('STAIR_HOOKS')) {
  app.addHook('onRequest', (request, reply, done) => {
    reply.header('x-request-id', request.id);
    done();
  });
  app.addHook('onRequest', (_request, reply, done) => {
    reply.type('application/vnd.api+json');
    reply.header('api-version', '2026-12-01');
    done();
  });
  app.addHook('onRequest', (_request, _reply, done) => {
    Promise.resolve().then(() => done(), done);
  });
}
if (gatehouse !== null && logger !== null && destination !== null && on('STAIR_LOGLINE')) {
  // What Gatehouse's request line reads from a request.
  app.decorateRequest('principal', null);
  app.decorateRequest('failure', null);
  app.decorateRequest('clientAddress', {
    getter() {
      return this.ip;
    },
  });
  app.addHook('onResponse', gatehouse.requestLogLine(logger, destination));
}

/** @type {Map<string, { userId: string, tokenId: string, count: number }>} */
const known = new Map();
/** The calibration work: hash the bearer token, look it up in a Map (learnt on first sight), bump a counter. */
function countToken(/** @type {string | undefined} */ authorization) {
  const key = hash('sha256', (authorization ?? '').slice('Bearer '.length));
  let entry = known.get(key);
  if (entry === undefined) {
    entry = { userId: randomUUID(), tokenId: randomUUID(), count: 0 };
    known.set(key, entry);
  }
  entry.count++;
  return entry;
}

const now = new Date().toISOString();
app.get('/readyz', async () => ({ ok: true }));
class Refusal extends Error {}
app.setErrorHandler((_err, _request, reply) =>
  reply
    .code(429)
    .header('retry-after', '60')
    .send({
      errors: [{ status: '429', code: 'too_many_requests', title: 'Too many requests', detail: 'Rate limit reached.' }],
    }),
);
if (on('STAIR_REFERENCE')) {
  app.get('/core/users/me', async (request, reply) =>
    reply.send({ hello: countToken(request.headers.authorization).userId }),
  );
}
app.get(on('STAIR_REFERENCE') ? '/core/users/me/unused' : '/core/users/me', async (request, reply) => {
  if (on('STAIR_REFUSE')) throw new Refusal('refused');
  let remaining = 99_999;
  if (on('STAIR_AUTH')) {
    const entry = countToken(request.headers.authorization);
    /** @type {Record<string, unknown>} */ (/** @type {unknown} */ (request)).principal = {
      userId: entry.userId,
      tokenId: entry.tokenId,
    };
    remaining = Math.max(0, 100_000 - entry.count);
  }
  if (on('STAIR_HOOKS') || on('STAIR_AUTH')) {
    reply.header('ratelimit-policy', '"default";q=100000;w=60');
    reply.header('ratelimit', `"default";r=${remaining};t=60`);
    reply.header('x-ratelimit-limit', '100000');
    reply.header('x-ratelimit-remaining', String(remaining));
    reply.header('x-ratelimit-reset', '60');
  }
  return {
    data: {
      type: 'user',
      id: '265181f1-077d-433f-80ce-f8fa4ff0455d',
      attributes: {
        email: 'bench@bench.example',
        first_name: 'Bench',
        last_name: 'User',
        roles: ['developer'],
        created_at: now,
        updated_at: now,
        archived_at: null,
        rate_limit_per_minute: null,
      },
      links: { self: '/core/users/265181f1-077d-433f-80ce-f8fa4ff0455d' },
    },
  };
});

process.once('SIGTERM', () => void app.close().then(() => destination?.destroy()));
await app.listen({ host: '127.0.0.1', port: Number(process.env.PORT) });
