import type { FastifyReply } from 'fastify';
import { LRUCache } from 'lru-cache';
import { type Awaitable, andThen } from '../awaitable.js';
import type { Clock } from '../clock.js';
import { AppError } from '../errors/app-error.js';
import type { Decision, RateLimitStore } from './store.js';

export const WINDOW_SECONDS = 60;
const WINDOW_MS = WINDOW_SECONDS * 1000;

/** A web session's own allowance, so pages that fire several requests stay usable. */
export const SESSION_LIMIT_PER_MINUTE = 600;
/** Requests that fail authentication, per client address (IPv6 by /64). */
export const FAILED_AUTH_LIMIT_PER_MINUTE = 30;
/** Blocked addresses each node remembers, so a flood from them is refused without asking the store. */
export const BLOCKED_ADDRESSES_REMEMBERED = 10_000;
/** Sign-in, the OpenAPI document and other endpoints that need no credentials, per client address. */
export const ANONYMOUS_LIMIT_PER_MINUTE = 120;

/** Failed sign-ins allowed per account and per address within LOGIN_WINDOW_SECONDS. */
export const LOGIN_FAILURES_PER_ACCOUNT = 5;
export const LOGIN_FAILURES_PER_ADDRESS = 20;
export const LOGIN_WINDOW_SECONDS = 15 * 60;
const LOGIN_WINDOW_MS = LOGIN_WINDOW_SECONDS * 1000;

export type Policy = 'default' | 'session' | 'failed_auth' | 'anonymous' | 'failed_login';

export interface RateLimiterDeps {
  store: RateLimitStore;
  clock: Clock;
  onLimited?: (policy: Policy) => void;
}

export type RateLimiter = ReturnType<typeof createRateLimiter>;

/** A 429 and the rate-limit headers that go with it. May be shared between requests: read only. */
export interface Refusal {
  readonly error: AppError;
  readonly headers: Readonly<Record<string, string>>;
}

export function createRateLimiter({ store, clock, onLimited }: RateLimiterDeps) {
  const now = () => clock.now().getTime();

  /**
   * Addresses seen blocked for failed authentications, with when their block ends (ms). Safe
   * to keep because a block only ever ends by time (nothing resets `failed_auth:*`); anything
   * that lifts a block early must clear this too.
   */
  const blocked = new LRUCache<string, number>({ max: BLOCKED_ADDRESSES_REMEMBERED });
  /** When the last of the blocks in `blocked` ends (ms): after it, none is left. */
  let lastBlockEnds = 0;

  function blockedAddress(reply: FastifyReply, address: string, decision: Decision): AppError {
    const until = now() + decision.retryAfterMs;
    blocked.set(address, until);
    if (until > lastBlockEnds) lastBlockEnds = until;
    return refuse('failed_auth', decision, reply, 'failed authentications');
  }

  /** The 429 for `decision` under `policy`, counted; `what` names what is limited, for the detail. */
  function refusal(policy: Policy, decision: Decision, what: string): Refusal {
    onLimited?.(policy);
    return refusalOf(policy, decision, what);
  }

  function refusalOf(policy: Policy, decision: Decision, what: string): Refusal {
    const seconds = Math.max(1, Math.ceil(decision.retryAfterMs / 1000));
    const error = new AppError(
      'too_many_requests',
      `Rate limit of ${decision.limit} ${what} per ${WINDOW_SECONDS} seconds reached; retry in ${seconds} seconds.`,
      { headers: { 'retry-after': String(seconds) }, log: { policy, limit: decision.limit } },
    );
    return { error, headers: rateLimitHeaders(policy, decision) };
  }

  /** `refusal`, with its rate-limit headers set on `reply`. */
  function refuse(policy: Policy, decision: Decision, reply: FastifyReply, what: string): AppError {
    const { error, headers } = refusal(policy, decision, what);
    reply.headers(headers);
    return error;
  }

  /**
   * The refusals of blocked addresses, by whole seconds left: they differ in nothing else, so each
   * is made once and shared (a flood from a blocked address is answered thousands of times a
   * second). A block lasts one window at most, so this holds WINDOW_SECONDS entries at most.
   */
  const blockedRefusals = new Map<number, Refusal>();

  /** The 429 (counted) for an address this node has seen blocked, until its block ends; else null. */
  function blockedRefusal(address: string): Refusal | null {
    const until = blocked.get(address);
    if (until === undefined) return null;
    const waitMs = until - now();
    if (waitMs <= 0) {
      blocked.delete(address);
      return null;
    }
    const seconds = Math.min(WINDOW_SECONDS, Math.ceil(waitMs / 1000));
    let refusal = blockedRefusals.get(seconds);
    if (refusal === undefined) {
      const waited = seconds * 1000;
      const decision = {
        allowed: false,
        limit: FAILED_AUTH_LIMIT_PER_MINUTE,
        remaining: 0,
        resetMs: waited,
        retryAfterMs: waited,
      };
      refusal = refusalOf('failed_auth', decision, 'failed authentications');
      blockedRefusals.set(seconds, refusal);
    }
    onLimited?.('failed_auth');
    return refusal;
  }

  return {
    /**
     * Counts an authenticated request against its user's limit, in the same store step that
     * checks the client address is not blocked for failed authentications. Returns the 429 for
     * either, or null (headers set) when the request may go on.
     */
    user(
      reply: FastifyReply,
      address: string,
      userId: string,
      viaSession: boolean,
      limit: number,
    ): Awaitable<AppError | null> {
      const policy: Policy = viaSession ? 'session' : 'default';
      const counted = store.hitGuarded(
        `failed_auth:${address}`,
        FAILED_AUTH_LIMIT_PER_MINUTE,
        `${policy}:${userId}`,
        limit,
        WINDOW_MS,
        now(),
      );
      return andThen(counted, ({ guard, decision }) => {
        if (decision === null) return blockedAddress(reply, address, guard);
        if (!decision.allowed) return refuse(policy, decision, reply, 'requests');
        reply.headers(rateLimitHeaders(policy, decision));
        return null;
      });
    },

    /**
     * The refusal (a 429, headers set) for an address this node has seen blocked for failed
     * authentications, until the block ends; null otherwise. Asks no store, so it can come
     * before any look-up. Other nodes' blocks are learnt on the address's next request here
     * (`user`, `recordFailedAuth`).
     */
    knownBlocked(reply: FastifyReply, address: string): AppError | null {
      const refusal = blockedRefusal(address);
      if (refusal === null) return null;
      reply.headers(refusal.headers);
      return refusal.error;
    },

    /**
     * `knownBlocked` without a Fastify reply: the 429 and its rate-limit headers (gateway/front-door.ts).
     * Requests refused within the same second get the same object.
     */
    blockedRefusal,

    /**
     * Whether any address this node has seen blocked may still be: false means `blockedRefusal`
     * is null for every address, so callers may skip working one out. Once every block has
     * ended, the addresses are forgotten (an address that never returns is not looked for).
     */
    anyBlocked(): boolean {
      if (blocked.size === 0) return false;
      if (now() < lastBlockEnds) return true;
      blocked.clear();
      return false;
    },

    /**
     * Counts a failed authentication. The count is atomic, so when many fail at once those
     * beyond the limit are answered 429 instead of their 401 (the returned error is that 429).
     */
    recordFailedAuth(reply: FastifyReply, address: string): Awaitable<AppError | null> {
      const counted = store.hit(`failed_auth:${address}`, FAILED_AUTH_LIMIT_PER_MINUTE, WINDOW_MS, now());
      return andThen(counted, (decision) => (decision.allowed ? null : blockedAddress(reply, address, decision)));
    },

    /**
     * Admits a sign-in attempt, or refuses it when the account or the address has too many
     * recent failures. The attempt is counted against the account before the password is
     * checked (atomically), so concurrent guesses cannot exceed the limit; a successful
     * sign-in clears the account's count (`clearLoginFailures`). The address counts failures only.
     */
    async ensureLoginAllowed(account: string, address: string): Promise<void> {
      const [byAccount, byAddress] = await Promise.all([
        store.hit(`login_account:${account}`, LOGIN_FAILURES_PER_ACCOUNT, LOGIN_WINDOW_MS, now()),
        store.peek(`login_address:${address}`, LOGIN_FAILURES_PER_ADDRESS, LOGIN_WINDOW_MS, now()),
      ]);
      const refused = [byAccount, byAddress].filter((d) => !d.allowed);
      if (refused.length === 0) return;
      onLimited?.('failed_login');
      const seconds = Math.max(1, Math.ceil(Math.max(...refused.map((d) => d.retryAfterMs)) / 1000));
      throw new AppError('too_many_requests', `Too many failed sign-ins; try again in ${seconds} seconds.`, {
        headers: { 'retry-after': String(seconds) },
        log: { policy: 'failed_login' },
      });
    },

    async recordLoginFailure(address: string): Promise<void> {
      await store.hit(`login_address:${address}`, LOGIN_FAILURES_PER_ADDRESS, LOGIN_WINDOW_MS, now());
    },

    /** A successful sign-in forgives the account's earlier failures (not the address's). */
    async clearLoginFailures(account: string): Promise<void> {
      await store.reset(`login_account:${account}`);
    },

    /** Counts a request to an endpoint that needs no credentials. */
    async anonymous(reply: FastifyReply, address: string): Promise<void> {
      const decision = await store.hit(`anonymous:${address}`, ANONYMOUS_LIMIT_PER_MINUTE, WINDOW_MS, now());
      if (!decision.allowed) throw refuse('anonymous', decision, reply, 'requests');
      reply.headers(rateLimitHeaders('anonymous', decision));
    },
  };
}

/**
 * Both header styles: the IETF draft's structured fields (RateLimit-Policy, RateLimit) and the
 * widely used X-RateLimit-*; Reset is in seconds from now, like the draft's `t`.
 */
function rateLimitHeaders(policy: Policy, decision: Decision): Record<string, string> {
  const reset = Math.ceil(decision.resetMs / 1000);
  return {
    'ratelimit-policy': `"${policy}";q=${decision.limit};w=${WINDOW_SECONDS}`,
    ratelimit: `"${policy}";r=${decision.remaining};t=${reset}`,
    'x-ratelimit-limit': String(decision.limit),
    'x-ratelimit-remaining': String(decision.remaining),
    'x-ratelimit-reset': String(reset),
  };
}
