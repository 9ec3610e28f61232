import { createHash, randomBytes, randomUUID, timingSafeEqual } from 'node:crypto';
import type { Kysely } from 'kysely';
import type { Principal } from '../access/principal.js';
import { addSeconds, type Clock } from '../clock.js';
import type { Database } from '../db/schema.js';
import { AppError } from '../errors/app-error.js';
import { findUserByEmail } from '../users/repository.js';
import { parseRoles, toUser, type User } from '../users/service.js';
import { verifyAgainstNothing, verifyPassword } from './password.js';
import * as repo from './repository.js';

export const SESSION_COOKIE = 'gatehouse_session';
export const CSRF_HEADER = 'x-csrf-token';

const sha256 = (value: string): string => createHash('sha256').update(value).digest('hex');

/** The CSRF token is derived from the session secret, so it needs no storage and dies with the session. */
export const csrfTokenFor = (sessionSecret: string): string => sha256(`csrf:${sessionSecret}`);

export interface AuthServiceDeps {
  db: Kysely<Database>;
  clock: Clock;
  sessionTtlSeconds: number;
}

export interface SignedIn {
  user: User;
  sessionSecret: string;
  csrfToken: string;
  expiresAt: string;
}

export type AuthService = ReturnType<typeof createAuthService>;

export function createAuthService({ db, clock, sessionTtlSeconds }: AuthServiceDeps) {
  return {
    /** Checks the credentials; throttling failed attempts is the gateway's job (see ratelimit/limiter.ts). */
    async login(email: string, password: string): Promise<SignedIn> {
      const row = await findUserByEmail(db, email);
      const ok =
        row?.password_hash != null && row.archived_at === null
          ? await verifyPassword(password, row.password_hash)
          : await verifyAgainstNothing(password);
      if (!ok || row === undefined) throw new AppError('invalid_credentials', 'The email or password is wrong.');
      const now = clock.now();
      const sessionSecret = randomBytes(32).toString('hex');
      const expiresAt = addSeconds(now, sessionTtlSeconds).toISOString();
      await repo.deleteExpiredSessions(db, now.toISOString());
      await repo.insertSession(db, {
        id: randomUUID(),
        user_id: row.id,
        secret_hash: sha256(sessionSecret),
        created_at: now.toISOString(),
        expires_at: expiresAt,
      });
      return { user: toUser(row), sessionSecret, csrfToken: csrfTokenFor(sessionSecret), expiresAt };
    },

    async logout(sessionSecret: string): Promise<void> {
      await repo.deleteSessionBySecretHash(db, sha256(sessionSecret));
    },

    /** The principal behind a session cookie, or null when the session is unknown, expired or its user archived. */
    async resolveSession(sessionSecret: string): Promise<Principal | null> {
      const row = await repo.findLiveSession(db, sha256(sessionSecret), clock.now().toISOString());
      if (row === undefined || row.archived_at !== null) return null;
      return { userId: row.user_id, roles: parseRoles(row.roles), tokenId: null, sessionId: row.session_id };
    },

    /** Throws 403 unless `presented` (the x-csrf-token header) is the session's CSRF token. */
    requireCsrf(sessionSecret: string, presented: string | string[] | undefined): void {
      const expected = Buffer.from(csrfTokenFor(sessionSecret));
      const actual = Buffer.from(typeof presented === 'string' ? presented : '');
      if (actual.length !== expected.length || !timingSafeEqual(actual, expected)) {
        throw new AppError('csrf_token_invalid', `Send the session's CSRF token in the ${CSRF_HEADER} header.`, {
          log: { auth_failure: 'csrf' },
        });
      }
    },
  };
}
