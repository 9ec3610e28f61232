import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { AppError } from '../errors/app-error.js';
import { unavailable } from '../gateway/unavailable.js';
import { errorResponses } from '../http/jsonapi.js';
import { addressKey } from '../ratelimit/address.js';
import type { RateLimiter } from '../ratelimit/limiter.js';
import { normalizeEmail } from '../users/repository.js';
import { UserResource, userResource } from '../users/schemas.js';
import type { UserService } from '../users/service.js';
import { type AuthService, CSRF_HEADER, csrfTokenFor, SESSION_COOKIE } from './service.js';

const tags = ['Web sign-in'];

const SessionDocument = Type.Object({
  data: UserResource,
  meta: Type.Object({
    csrf_token: Type.String({ description: `Send it as ${CSRF_HEADER} on every state-changing request` }),
    expires_at: Type.Optional(Type.String({ format: 'date-time' })),
  }),
});

const LoginBody = Type.Object(
  { email: Type.String({ minLength: 1, maxLength: 320 }), password: Type.String({ minLength: 1, maxLength: 1024 }) },
  { additionalProperties: false },
);

export interface AuthRoutesOptions {
  auth: AuthService;
  users: UserService;
  cookieSecure: boolean;
  sessionTtlSeconds: number;
  limiter: Pick<RateLimiter, 'ensureLoginAllowed' | 'recordLoginFailure' | 'clearLoginFailures'>;
}

/** Cookie sessions for the web app. The cookie is HttpOnly and SameSite=Lax; writes also need the CSRF token. */
export const authRoutes: FastifyPluginAsyncTypebox<AuthRoutesOptions> = async (app, options) => {
  const { auth, users, cookieSecure, sessionTtlSeconds, limiter } = options;
  const cookie = { path: '/', httpOnly: true, sameSite: 'lax' as const, secure: cookieSecure };

  app.post(
    '/login',
    {
      schema: {
        tags,
        summary: 'Sign in',
        description: 'Sets the session cookie. Failed attempts are limited per account and per address.',
        body: LoginBody,
        response: { 200: SessionDocument, ...errorResponses(400, 401, 429) },
      },
    },
    async (request, reply) => {
      const account = normalizeEmail(request.body.email);
      const address = addressKey(request.clientAddress);
      await limiter.ensureLoginAllowed(account, address);
      const signedIn = await auth.login(account, request.body.password).catch(async (err: unknown) => {
        if (err instanceof AppError && err.code === 'invalid_credentials') await limiter.recordLoginFailure(address);
        throw err;
      });
      await limiter.clearLoginFailures(account);
      return reply
        .setCookie(SESSION_COOKIE, signedIn.sessionSecret, { ...cookie, maxAge: sessionTtlSeconds })
        .header('cache-control', 'no-store')
        .send({
          data: userResource(signedIn.user),
          meta: { csrf_token: signedIn.csrfToken, expires_at: signedIn.expiresAt },
        });
    },
  );

  app.get(
    '/session',
    {
      schema: {
        tags,
        summary: 'The signed-in user and the CSRF token',
        response: { 200: SessionDocument, ...errorResponses(401) },
      },
    },
    async (request, reply) => {
      const secret = request.cookies[SESSION_COOKIE];
      const principal = secret ? await auth.resolveSession(secret).catch(unavailable) : null;
      if (secret === undefined || principal === null) {
        throw new AppError('authentication_required', 'Not signed in.');
      }
      const user = await users.get(principal, 'me');
      return reply
        .header('cache-control', 'no-store')
        .send({ data: userResource(user), meta: { csrf_token: csrfTokenFor(secret) } });
    },
  );

  app.post(
    '/logout',
    {
      schema: {
        tags,
        summary: 'Sign out',
        description: `Needs the ${CSRF_HEADER} header.`,
        response: { 204: { type: 'null' }, ...errorResponses(403) },
      },
    },
    async (request, reply) => {
      const secret = request.cookies[SESSION_COOKIE];
      if (secret !== undefined && secret !== '') {
        auth.requireCsrf(secret, request.headers[CSRF_HEADER]);
        await auth.logout(secret);
      }
      return reply.clearCookie(SESSION_COOKIE, cookie).code(204).send(null);
    },
  );
};
