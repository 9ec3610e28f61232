import { parseCookie } from 'cookie';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Principal } from '../access/principal.js';
import { type AuthService, CSRF_HEADER, SESSION_COOKIE } from '../auth/service.js';
import { AppError } from '../errors/app-error.js';
import { errorHandler, sendError } from '../errors/handler.js';
import { addressKey } from '../ratelimit/address.js';
import { type RateLimiter, SESSION_LIMIT_PER_MINUTE } from '../ratelimit/limiter.js';
import type { TokenRejection, TokenService } from '../tokens/service.js';
import { readCredentials } from './authorization.js';
import { unavailable } from './unavailable.js';

const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

const REJECTION_DETAIL: Record<Exclude<TokenRejection, 'not_developer'>, string> = {
  malformed: 'The token is not a Gatehouse token.',
  unknown: 'The token is unknown or has been revoked.',
  expired: 'The token has expired.',
  user_archived: 'The token is unknown or has been revoked.',
};

export interface AuthenticateDeps {
  tokens: Pick<TokenService, 'authenticate'>;
  auth: Pick<AuthService, 'resolveSession' | 'requireCsrf'>;
  limiter: RateLimiter;
}

interface Identified {
  principal: Principal;
  rateLimitPerMinute: number;
}

/** Failures that look like guessing or probing, counted per client address. */
const PROBING = new Set<AppError['code']>(['invalid_token', 'authentication_required', 'invalid_request']);

/**
 * The gateway's authentication hook: turns a bearer token or a session cookie into the
 * request's `Principal`. Any failure to reach storage is a 503: it never lets a request through
 * and never tells a valid token that it is invalid.
 */
export function createAuthenticateHook({ tokens, auth, limiter }: AuthenticateDeps) {
  /**
   * Callback style, so a refusal before any look-up (an address known to be blocked: the cheap
   * answer to a flood) creates no promise. Refusals are answered by the hook itself (a hook
   * that replies does not call `done`).
   */
  return function authenticate(request: FastifyRequest, reply: FastifyReply, done: (err?: Error) => void): void {
    const address = addressKey(request.clientAddress);
    // An address that keeps failing is refused before any look-up, and never touches a user's
    // quota: answered from here (a hook that replies does not call `done`).
    const refusal = limiter.knownBlocked(reply, address);
    if (refusal !== null) {
      sendError(refusal, request, reply);
      return;
    }
    // Failures (401, 403, 429, 503…) are answered from here too, the same as the error handler
    // would, without Fastify's error path.
    identifyAndCount(request, reply, address).then(
      () => done(),
      (err: unknown) => {
        try {
          errorHandler(err, request, reply);
        } catch (failed) {
          done(failed as Error); // Fastify's own error path, as the last resort
        }
      },
    );
  };

  async function identifyAndCount(request: FastifyRequest, reply: FastifyReply, address: string): Promise<void> {
    let identified: Identified;
    try {
      identified = await identify(request);
    } catch (err) {
      if (err instanceof AppError && PROBING.has(err.code))
        throw (await limiter.recordFailedAuth(reply, address)) ?? err;
      throw err;
    }
    request.principal = identified.principal;
    const viaSession = identified.principal.sessionId !== null;
    await limiter.user(reply, address, identified.principal.userId, viaSession, identified.rateLimitPerMinute);
  }

  async function identify(request: FastifyRequest): Promise<Identified> {
    const credentials = readCredentials(request.raw, request.query);
    if (credentials.kind === 'bearer') return bearer(request, credentials.token);
    // Parsed here, only for requests without a bearer token: the cookie plugin serves /auth alone.
    const cookieHeader = request.headers.cookie;
    const sessionSecret = cookieHeader === undefined ? undefined : parseCookie(cookieHeader)[SESSION_COOKIE];
    if (sessionSecret !== undefined && sessionSecret !== '') {
      return { principal: await session(request, sessionSecret), rateLimitPerMinute: SESSION_LIMIT_PER_MINUTE };
    }
    throw new AppError('authentication_required', 'Send a user app token as "Authorization: Bearer <token>".');
  }

  async function bearer(request: FastifyRequest, token: string): Promise<Identified> {
    const result = await tokens.authenticate(token, request.clientAddress).catch(unavailable);
    if ('principal' in result) return result;
    const log = { auth_failure: result.rejection, token_id: result.tokenId ?? null };
    if (result.rejection === 'not_developer') {
      throw new AppError(
        'insufficient_scope',
        "The token's user no longer holds the developer role; the token works again if the role is restored.",
        { log },
      );
    }
    throw new AppError('invalid_token', REJECTION_DETAIL[result.rejection], { log });
  }

  async function session(request: FastifyRequest, secret: string): Promise<Principal> {
    const principal = await auth.resolveSession(secret).catch(unavailable);
    if (principal === null) {
      throw new AppError('authentication_required', 'The session has ended; sign in again.', {
        log: { auth_failure: 'session_unknown' },
      });
    }
    if (!SAFE_METHODS.has(request.method)) auth.requireCsrf(secret, request.headers[CSRF_HEADER]);
    return principal;
  }
}
