import { randomUUID } from 'node:crypto';
import http from 'node:http';
import type { Socket } from 'node:net';
import cookie from '@fastify/cookie';
import swagger from '@fastify/swagger';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import Fastify, { type FastifyBaseLogger, type FastifyReply, type FastifyRequest, LogController } from 'fastify';
import type { DestinationStream } from 'pino';
import { authRoutes } from './auth/routes.js';
import { type Clock, systemClock } from './clock.js';
import type { Config } from './config/config.js';
import { AppError } from './errors/app-error.js';
import { errorHandler, renderError } from './errors/handler.js';
import { CURRENT_API_VERSION, resolveApiVersion } from './gateway/api-version.js';
import { createAuthenticateHook } from './gateway/authenticate.js';
import { createFrontDoor, type FrontDoor } from './gateway/front-door.js';
import { clientAddressResolver } from './http/client-address.js';
import { healthRoutes } from './http/health.js';
import { registerJsonBodies } from './http/json-body.js';
import { JSONAPI_MEDIA_TYPE } from './http/jsonapi.js';
import { createMetrics, metricsRoutes } from './http/metrics.js';
import { requestIdOf } from './http/request-id.js';
import { lazyRequestLogger, requestLogLine } from './http/request-log.js';
import { createLogger, redactUrl, standardOutput } from './logging.js';
import { addressKey } from './ratelimit/address.js';
import { setUpRateLimits } from './ratelimit/setup.js';
import type { Services } from './services.js';
import { settingsRoutes } from './settings/routes.js';
import { tokenRoutes } from './tokens/routes.js';
import { userRoutes } from './users/routes.js';
import './http/principal.js';

export const BODY_LIMIT_BYTES = 1024 * 1024;

export interface AppDeps {
  services: Services;
  /** Checks storage for the readiness probe. */
  ping: () => Promise<void>;
  /** Where log lines go; standard output when absent. */
  logDestination?: DestinationStream;
  /** The rate limiter's time; the system clock when absent. */
  clock?: Clock;
}

type AppConfig = Pick<Config, 'logLevel' | 'cookieSecure' | 'sessionTtlSeconds' | 'redisUrl' | 'trustedProxies'>;

/** Builds the whole HTTP app without listening, so tests can `inject` or listen on port 0. */
export async function buildApp(config: AppConfig, deps: AppDeps) {
  const { services } = deps;
  const metrics = createMetrics();
  const logDestination = deps.logDestination ?? standardOutput((lines) => metrics.logLinesDropped.inc(lines));
  // Set once the rate limiter exists; until then (and under `inject`) every request goes to Fastify.
  let frontDoor: FrontDoor | null = null;
  const logger = createLogger(config.logLevel, logDestination);
  const app = Fastify({
    loggerInstance: logger as FastifyBaseLogger,
    logController: new LogController({ disableRequestLogging: true, requestIdLogLabel: 'request_id' }),
    childLoggerFactory: lazyRequestLogger,
    bodyLimit: BODY_LIMIT_BYTES,
    onProtoPoisoning: 'error',
    onConstructorPoisoning: 'error',
    requestIdHeader: false,
    genReqId: requestIdOf,
    ajv: { customOptions: { coerceTypes: false, removeAdditional: false, allErrors: false } },
    clientErrorHandler: answerClientError,
    routerOptions: { maxParamLength: 200 },
    // X-Forwarded-For is believed only from these peers; otherwise the socket address counts.
    trustProxy: config.trustedProxies.length > 0 ? [...config.trustedProxies] : false,
    // Fastify's own HTTP server, set up as Fastify does, with the front door before its handler.
    serverFactory: (handler, options) => {
      const setting = (name: string) => (typeof options[name] === 'number' ? options[name] : 0);
      const server = http.createServer((options.http ?? {}) as http.ServerOptions, (req, res) => {
        if (frontDoor?.refuse(req, res) !== true) handler(req, res);
      });
      server.keepAliveTimeout = setting('keepAliveTimeout');
      server.requestTimeout = setting('requestTimeout');
      server.setTimeout(setting('connectionTimeout'));
      if (setting('maxRequestsPerSocket') > 0) server.maxRequestsPerSocket = setting('maxRequestsPerSocket');
      return server;
    },
  }).withTypeProvider<TypeBoxTypeProvider>();

  const { limiter, store, ready } = setUpRateLimits({
    redisUrl: config.redisUrl,
    clock: deps.clock ?? systemClock,
    log: app.log,
    limited: metrics.rateLimited,
    fallbacks: metrics.rateLimitFallbacks,
  });
  app.addHook('onClose', async () => store.close());
  const clientAddress = clientAddressResolver(config.trustedProxies);
  const door = createFrontDoor({ limiter, clientAddress, log: app.log });
  frontDoor = door;
  app.addHook('onClose', async () => door.close());
  services.credentials.start(app.log);
  app.addHook('onClose', async () => services.credentials.stop());
  if (!(await ready(2000))) app.log.error('Redis is not reachable yet; rate limits are per node until it is');
  const limitAnonymous = async (request: FastifyRequest, reply: FastifyReply) =>
    limiter.anonymous(reply, addressKey(request.clientAddress));

  app.setErrorHandler(errorHandler);
  app.setNotFoundHandler((request) => {
    const path = redactUrl(request.url.split('?')[0] ?? '').slice(0, 200);
    throw new AppError('not_found', `No route matches ${request.method} ${path}.`);
  });
  registerJsonBodies(app, BODY_LIMIT_BYTES);
  app.decorateRequest('principal', null);
  app.decorateRequest('failure', null);
  app.decorateRequest('clientAddress', '');
  // Hooks on every request take a callback rather than return a promise: cheaper per request.
  app.addHook('onRequest', (request, reply, done) => {
    request.clientAddress = clientAddress(request.raw);
    reply.header('x-request-id', request.id);
    done();
  });
  app.addHook('onResponse', requestLogLine(logger, logDestination));

  await app.register(swagger, {
    // /core speaks JSON:API: document its media type on every body, in and out.
    transform: ({ schema, url }) => ({
      schema: url.startsWith('/core')
        ? { ...schema, consumes: [JSONAPI_MEDIA_TYPE, 'application/json'], produces: [JSONAPI_MEDIA_TYPE] }
        : schema,
      url,
    }),
    openapi: {
      openapi: '3.1.0',
      info: {
        title: 'Gatehouse API',
        version: CURRENT_API_VERSION,
        description:
          'The Gatehouse REST API. Authenticate with a user app token: `Authorization: Bearer <token>`. Documents follow JSON:API.',
      },
      servers: [{ url: '/' }],
      components: {
        securitySchemes: {
          bearer: { type: 'http', scheme: 'bearer', description: 'A 48-character user app token' },
        },
      },
    },
  });

  await app.register(healthRoutes, { ping: deps.ping });
  await app.register(metricsRoutes, { registry: metrics.registry });
  await app.register(async (anonymous) => {
    // Cookies are set and read by /auth only; the gateway reads the session cookie itself.
    await anonymous.register(cookie);
    anonymous.addHook('onRequest', limitAnonymous);
    await anonymous.register(authRoutes, {
      prefix: '/auth',
      auth: services.auth,
      users: services.users,
      cookieSecure: config.cookieSecure,
      sessionTtlSeconds: config.sessionTtlSeconds,
      limiter,
    });
  });

  const authenticate = createAuthenticateHook({ tokens: services.tokens, auth: services.auth, limiter });
  await app.register(
    async (core) => {
      core.addHook('onRequest', (request, reply, done) => {
        reply.type(JSONAPI_MEDIA_TYPE);
        try {
          reply.header('api-version', resolveApiVersion(request.headers['api-version']));
        } catch (err) {
          done(err as Error);
          return;
        }
        done();
      });
      // Needs no credentials: counted against its address instead.
      await core.register(async (open) => {
        open.addHook('onRequest', limitAnonymous);
        open.get('/openapi.json', { schema: { hide: true } }, async (_request, reply) =>
          reply.type('application/json').send(app.swagger()),
        );
      });
      // Everything else needs a token or a session.
      await core.register(async (api) => {
        api.addHook('onRequest', authenticate);
        await api.register(userRoutes, { users: services.users });
        await api.register(tokenRoutes, { tokens: services.tokens });
        await api.register(settingsRoutes, { settings: services.settings });
      });
    },
    { prefix: '/core' },
  );

  return app;
}

/** Requests Node cannot even parse (e.g. headers over 16 KiB) still get a JSON:API error. */
function answerClientError(err: Error & { code?: string }, socket: Socket): void {
  if (!socket.writable) return;
  const error =
    err.code === 'HPE_HEADER_OVERFLOW'
      ? new AppError('header_too_large', 'The request headers are too large.')
      : new AppError('invalid_request', 'The request is not valid HTTP.');
  const body = JSON.stringify(renderError(error, randomUUID()));
  socket.end(
    `HTTP/1.1 ${error.status} ${error.code === 'header_too_large' ? 'Request Header Fields Too Large' : 'Bad Request'}\r\n` +
      `Content-Type: ${JSONAPI_MEDIA_TYPE}\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
  );
}

export type App = Awaited<ReturnType<typeof buildApp>>;
