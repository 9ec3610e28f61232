import { randomUUID } from 'node:crypto';
import type { Kysely } from 'kysely';
import { can } from '../access/permissions.js';
import type { Principal } from '../access/principal.js';
import type { Awaitable } from '../awaitable.js';
import { addSeconds, type Clock } from '../clock.js';
import type { Database, TokenRow } from '../db/schema.js';
import { AppError, notFound } from '../errors/app-error.js';
import type { Page, Paged } from '../http/jsonapi.js';
import { type SettingsService, settingsFromStored } from '../settings/service.js';
import { findUserById } from '../users/repository.js';
import { toUser, type User } from '../users/service.js';
import type { CredentialCache } from './credential-cache.js';
import * as repo from './repository.js';
import { generateToken, hashToken, TOKEN_PATTERN, tokenHint } from './token.js';

/** A sane cap: far above what a person manages by hand, low enough to stop a runaway script. */
export const MAX_TOKENS_PER_USER = 100;
/** `last_accessed_at` is written at most this often per token. */
export const TOUCH_INTERVAL_SECONDS = 60;

export interface UserAppToken {
  id: string;
  user_id: string;
  label: string;
  hint: string;
  created_at: string;
  expires_at: string | null;
  last_accessed_at: string | null;
  last_accessed_ip: string | null;
}

export interface IssuedToken extends UserAppToken {
  /** The token itself, present only in the answer that creates it. */
  token: string;
}

/** Why a bearer token was refused; logged with the token's id, never the token. */
export type TokenRejection = 'malformed' | 'unknown' | 'expired' | 'user_archived' | 'not_developer';

/** What presenting a token comes to: its principal and rate limit, or why it is refused. */
export type Authentication =
  | { principal: Principal; rateLimitPerMinute: number }
  | { rejection: TokenRejection; tokenId?: string };

export interface TokenServiceDeps {
  db: Kysely<Database>;
  clock: Clock;
  settings: Pick<SettingsService, 'get'>;
  cache: CredentialCache<Credential>;
}

export type TokenService = ReturnType<typeof createTokenService>;

/** What authenticating a token needs, derived once from the database read and cached. */
export interface Credential {
  readonly tokenId: string;
  readonly user: User;
  readonly principal: Principal;
  /** Null when tokens do not expire under the instance setting as read. */
  readonly expiresAtMs: number | null;
  readonly rateLimitPerMinute: number;
  /** When the token's use was last recorded, as far as this process knows (ms). */
  lastAccessedMs: number | null;
}

function toCredential(row: repo.CredentialRow): Credential {
  const { token_expiry_seconds, rate_limit_per_minute } = settingsFromStored({
    token_expiry_seconds: row.token_expiry_seconds,
    rate_limit_per_minute: row.rate_limit_per_minute_default,
  });
  const user = Object.freeze(toUser(row));
  return {
    tokenId: row.token_id,
    user,
    principal: Object.freeze({ userId: user.id, roles: user.roles, tokenId: row.token_id, sessionId: null, user }),
    expiresAtMs:
      token_expiry_seconds === null ? null : new Date(row.token_created_at).getTime() + token_expiry_seconds * 1000,
    rateLimitPerMinute: row.rate_limit_per_minute ?? rate_limit_per_minute,
    lastAccessedMs: row.last_accessed_at === null ? null : new Date(row.last_accessed_at).getTime(),
  };
}

export function createTokenService({ db, clock, settings, cache }: TokenServiceDeps) {
  const expiresAt = (createdAt: string, expirySeconds: number | null): string | null =>
    expirySeconds === null ? null : addSeconds(new Date(createdAt), expirySeconds).toISOString();

  const toToken = (row: TokenRow, expirySeconds: number | null): UserAppToken => ({
    id: row.id,
    user_id: row.user_id,
    label: row.label,
    hint: row.hint,
    created_at: row.created_at,
    expires_at: expiresAt(row.created_at, expirySeconds),
    last_accessed_at: row.last_accessed_at,
    last_accessed_ip: row.last_accessed_ip,
  });

  /** The owner or a user admin may see a user's tokens; anyone else gets the 404 of a missing user. */
  async function ownerFor(principal: Principal, userIdParam: string): Promise<string> {
    const userId = userIdParam === 'me' ? principal.userId : userIdParam;
    if (userId !== principal.userId && !can(principal, 'tokens:manage_any')) throw notFound('user');
    if (userId !== principal.userId && (await findUserById(db, userId)) === undefined) throw notFound('user');
    return userId;
  }

  /** Issues a token with no permission check: for the API after its checks, and the operator CLI. */
  async function issue(userId: string, label: string): Promise<IssuedToken> {
    const cleanLabel = label.trim();
    if (cleanLabel.length === 0 || cleanLabel.length > 100) {
      throw new AppError('invalid_request', 'A label of 1 to 100 characters is required.', {
        source: { pointer: '/data/attributes/label' },
      });
    }
    if ((await repo.countTokensOfUser(db, userId)) >= MAX_TOKENS_PER_USER) {
      throw new AppError(
        'token_limit_reached',
        `A user may hold at most ${MAX_TOKENS_PER_USER} tokens; revoke unused ones before creating more.`,
      );
    }
    const token = generateToken();
    const row: TokenRow = {
      id: randomUUID(),
      user_id: userId,
      label: cleanLabel,
      token_hash: hashToken(token),
      hint: tokenHint(token),
      created_at: clock.now().toISOString(),
      last_accessed_at: null,
      last_accessed_ip: null,
    };
    await repo.insertToken(db, row);
    const { token_expiry_seconds } = await settings.get();
    return { ...toToken(row, token_expiry_seconds), token };
  }

  async function listOf(userId: string, page: Page): Promise<Paged<UserAppToken>> {
    const [rows, total, { token_expiry_seconds }] = await Promise.all([
      repo.listTokensOfUser(db, userId, page.size, (page.number - 1) * page.size),
      repo.countTokensOfUser(db, userId),
      settings.get(),
    ]);
    return { items: rows.map((r) => toToken(r, token_expiry_seconds)), total };
  }

  return {
    issue,
    listOf,
    /** Revokes with no permission check (the operator CLI); false when the user has no such token. */
    async revokeOf(userId: string, tokenId: string): Promise<boolean> {
      return cache.changing(() => repo.deleteToken(db, userId, tokenId));
    },

    async list(principal: Principal, userIdParam: string, page: Page): Promise<Paged<UserAppToken>> {
      return listOf(await ownerFor(principal, userIdParam), page);
    },

    async create(principal: Principal, userIdParam: string, label: string): Promise<IssuedToken> {
      const userId = await ownerFor(principal, userIdParam);
      if (userId !== principal.userId) {
        throw new AppError('insufficient_scope', 'Tokens can only be created by their own user.');
      }
      if (!can(principal, 'tokens:create_own')) {
        throw new AppError('insufficient_scope', 'Creating tokens needs the developer role.');
      }
      return issue(userId, label);
    },

    async revoke(principal: Principal, userIdParam: string, tokenId: string): Promise<void> {
      const userId = await ownerFor(principal, userIdParam);
      if (!(await cache.changing(() => repo.deleteToken(db, userId, tokenId)))) throw notFound('token');
    },

    /**
     * Resolves a presented token to its principal, checking everything that can have changed
     * since the last request: the token still exists, its user is not archived, the instance's
     * expiry as set now, and the user's roles as they are now. The database read behind it is
     * cached per process until anything that read depends on changes (credential-cache.ts).
     * Answered at once, without a promise, when the cache holds the token and its last use
     * was recorded within TOUCH_INTERVAL_SECONDS: almost every request.
     */
    authenticate(token: string, ip: string): Awaitable<Authentication> {
      if (!TOKEN_PATTERN.test(token)) return { rejection: 'malformed' };
      const hash = hashToken(token);
      const credential = cache.get(hash);
      return credential === undefined ? readAndCheck(hash, ip) : check(credential, ip);
    },
  };

  async function readAndCheck(hash: string, ip: string): Promise<Authentication> {
    const generation = cache.generation;
    const row = await repo.findCredentialByHash(db, hash);
    if (row === undefined) return { rejection: 'unknown' };
    const credential = toCredential(row);
    cache.set(hash, credential, generation);
    return check(credential, ip);
  }

  function check(credential: Credential, ip: string): Awaitable<Authentication> {
    const { tokenId } = credential;
    if (credential.user.archived_at !== null) return { rejection: 'user_archived', tokenId };
    const now = clock.now();
    const nowMs = now.getTime();
    if (credential.expiresAtMs !== null && credential.expiresAtMs <= nowMs) {
      return { rejection: 'expired', tokenId };
    }
    if (!credential.user.roles.includes('developer')) return { rejection: 'not_developer', tokenId };
    const accepted = { principal: credential.principal, rateLimitPerMinute: credential.rateLimitPerMinute };
    if (credential.lastAccessedMs !== null && nowMs - credential.lastAccessedMs < TOUCH_INTERVAL_SECONDS * 1000) {
      return accepted;
    }
    credential.lastAccessedMs = nowMs;
    const notSince = addSeconds(now, -TOUCH_INTERVAL_SECONDS).toISOString();
    return repo.touchToken(db, tokenId, now.toISOString(), ip.slice(0, 64), notSince).then(() => accepted);
  }
}
