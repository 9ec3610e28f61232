// The staircase from the limit to Gatehouse: Fastify answering a Gatehouse-sized JSON:API body on
// GET /core/users/me, with no auth, adding one piece of Gatehouse's production set-up per flag:
//   STAIR_LOGGER=1    pino at info, batched to standard output, a request id (UUID) per request
//   STAIR_HOOKS=1     the three onRequest hooks a /core request passes (request id header; media
//                     type and Api-Version; one asynchronous step) and the eight response headers
//   STAIR_LOGLINE=1   the one JSON log line per request
//   STAIR_REFUSE=1    answer 429 through Fastify's error handler instead (a blocked address)
//   STAIR_REFERENCE=1 the calibration route instead: GET /core/users/me hashes the bearer
//                     token, looks it up in a Map, bumps an in-memory counter and answers a small
//                     JSON object (the Map learns each token on first sight, so it stays warm)
// Run it through bench/ab.mjs (see docs/benchmarks.md); what is left between the last step and
// gatehouse is authentication, the rate limit and the route itself.
import { hash, randomUUID } from 'node:crypto';
import Fastify from 'fastify';
import pino from 'pino';

const on = (/** @type {string} */ name) => process.env[name] === '1';

const app = Fastify(
  on('STAIR_LOGGER')
    ? {
        loggerInstance: pino({ level: 'info' }, pino.destination({ dest: 1, sync: false, minLength: 8192 })),
        disableRequestLogging: true,
        genReqId: () => randomUUID(),
      }
    : { logger: false },
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
if (on('STAIR_LOGLINE')) {
  app.addHook('onResponse', (request, reply, done) => {
    request.log.info(
      {
        method: request.method,
        url: request.url,
        remote_address: request.ip,
        status: reply.statusCode,
        ms: Math.round(reply.elapsedTime * 10) / 10,
      },
      'request completed',
    );
    done();
  });
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
/** @type {Map<string, { userId: string, count: number }>} */
const known = new Map();
if (on('STAIR_REFERENCE')) {
  app.get('/core/users/me', async (request, reply) => {
    const token = (request.headers.authorization ?? '').slice('Bearer '.length);
    const key = hash('sha256', token);
    let entry = known.get(key);
    if (entry === undefined) {
      entry = { userId: key.slice(0, 8), count: 0 };
      known.set(key, entry);
    }
    entry.count++;
    return reply.send({ hello: entry.userId });
  });
}
app.get(on('STAIR_REFERENCE') ? '/core/users/me/unused' : '/core/users/me', async (_request, reply) => {
  if (on('STAIR_REFUSE')) throw new Refusal('refused');
  if (on('STAIR_HOOKS')) {
    reply.header('ratelimit-policy', '"default";q=100000;w=60');
    reply.header('ratelimit', `"default";r=${99_999};t=60`);
    reply.header('x-ratelimit-limit', '100000');
    reply.header('x-ratelimit-remaining', '99999');
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

process.once('SIGTERM', () => void app.close());
await app.listen({ host: '127.0.0.1', port: Number(process.env.PORT) });
