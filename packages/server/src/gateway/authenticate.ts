import { parseCookie } from 'cookie';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Principal } from '../access/principal.js';
import { type AuthService, CSRF_HEADER, SESSION_COOKIE } from '../auth/service.js';
import { type Awaitable, andThen } from '../awaitable.js';
import { AppError } from '../errors/app-error.js';
import { errorHandler, sendError } from '../errors/handler.js';
import { addressKey } from '../ratelimit/address.js';
import { type RateLimiter, SESSION_LIMIT_PER_MINUTE } from '../ratelimit/limiter.js';
import type { Authentication, TokenRejection, TokenService } from '../tokens/service.js';
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

/** An everyday refusal thrown from deeper down, as a value; anything else (an outage) stays thrown. */
function asRefusal(err: unknown): AppError {
  if (!(err instanceof AppError) || err.status >= 500) throw err;
  return err;
}

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
    // Refusals (401, 403, 429) come back as values and are answered from here; other failures
    // (a 503 when storage is unreachable) go to the error handler, which also logs them.
    // Neither takes Fastify's error path, and no exception is thrown for an everyday refusal.
    // With the token cached and the rate limit in this process, all of it happens now, with no
    // promise at all.
    let refused: Awaitable<AppError | null>;
    try {
      refused = identifyAndCount(request, reply, address);
    } catch (err) {
      fail(err, request, reply, done);
      return;
    }
    if (refused instanceof Promise) {
      refused.then(
        (late) => answer(late, request, reply, done),
        (err: unknown) => fail(err, request, reply, done),
      );
    } else {
      answer(refused, request, reply, done);
    }
  };

  function answer(refused: AppError | null, request: FastifyRequest, reply: FastifyReply, done: () => void): void {
    if (refused === null) done();
    else sendError(refused, request, reply);
  }

  function fail(err: unknown, request: FastifyRequest, reply: FastifyReply, done: (err?: Error) => void): void {
    try {
      errorHandler(err, request, reply);
    } catch (failed) {
      done(failed as Error); // Fastify's own error path, as the last resort
    }
  }

  /** The refusal to answer with, or null once the request is authenticated and counted. */
  function identifyAndCount(request: FastifyRequest, reply: FastifyReply, address: string): Awaitable<AppError | null> {
    return andThen(identifyOrRefuse(request), (identified) => {
      if (identified instanceof AppError) {
        if (!PROBING.has(identified.code)) return identified;
        return andThen(limiter.recordFailedAuth(reply, address), (blocked) => blocked ?? identified);
      }
      request.principal = identified.principal;
      const viaSession = identified.principal.sessionId !== null;
      return limiter.user(reply, address, identified.principal.userId, viaSession, identified.rateLimitPerMinute);
    });
  }

  /** `identify`, with the refusals thrown from deeper down (malformed headers, a wrong CSRF token) as values. */
  function identifyOrRefuse(request: FastifyRequest): Awaitable<Identified | AppError> {
    let identified: Awaitable<Identified | AppError>;
    try {
      identified = identify(request);
    } catch (err) {
      return asRefusal(err);
    }
    return identified instanceof Promise ? identified.catch(asRefusal) : identified;
  }

  function identify(request: FastifyRequest): Awaitable<Identified | AppError> {
    const credentials = readCredentials(request.raw, request.query);
    if (credentials.kind === 'bearer') {
      let result: Awaitable<Authentication>;
      try {
        result = tokens.authenticate(credentials.token, request.clientAddress);
      } catch (err) {
        unavailable(err);
      }
      return result instanceof Promise ? result.then(bearerOutcome, unavailable) : bearerOutcome(result);
    }
    // Parsed here, only for requests without a bearer token: the cookie plugin serves /auth alone.
    const cookieHeader = request.headers.cookie;
    const sessionSecret = cookieHeader === undefined ? undefined : parseCookie(cookieHeader)[SESSION_COOKIE];
    if (sessionSecret !== undefined && sessionSecret !== '') return viaSession(request, sessionSecret);
    return new AppError('authentication_required', 'Send a user app token as "Authorization: Bearer <token>".');
  }

  function bearerOutcome(result: Authentication): Identified | AppError {
    return 'principal' in result ? result : bearerRefusal(result);
  }

  function bearerRefusal(result: { rejection: TokenRejection; tokenId?: string }): AppError {
    const log = { auth_failure: result.rejection, token_id: result.tokenId ?? null };
    if (result.rejection === 'not_developer') {
      return new AppError(
        'insufficient_scope',
        "The token's user no longer holds the developer role; the token works again if the role is restored.",
        { log },
      );
    }
    return new AppError('invalid_token', REJECTION_DETAIL[result.rejection], { log });
  }

  async function viaSession(request: FastifyRequest, secret: string): Promise<Identified | AppError> {
    const principal = await auth.resolveSession(secret).catch(unavailable);
    if (principal === null) {
      return new AppError('authentication_required', 'The session has ended; sign in again.', {
        log: { auth_failure: 'session_unknown' },
      });
    }
    if (!SAFE_METHODS.has(request.method)) auth.requireCsrf(secret, request.headers[CSRF_HEADER]);
    return { principal, rateLimitPerMinute: SESSION_LIMIT_PER_MINUTE };
  }
}
