import { randomUUID } from 'node:crypto';
import type { Kysely } from 'kysely';
import { can } from '../access/permissions.js';
import { type GlobalRole, isGlobalRole, type Principal } from '../access/principal.js';
import { hashPassword } from '../auth/password.js';
import { deleteSessionsOfUser } from '../auth/repository.js';
import type { Awaitable } from '../awaitable.js';
import type { Clock } from '../clock.js';
import type { Database, UserRow, UserUpdate } from '../db/schema.js';
import { AppError, notFound } from '../errors/app-error.js';
import type { Page, Paged } from '../http/jsonapi.js';
import type { CredentialChanges } from '../tokens/credential-cache.js';
import { deleteTokensOfUser } from '../tokens/repository.js';
import * as repo from './repository.js';

export interface UserAttributes {
  email: string;
  first_name: string;
  last_name: string;
  roles: GlobalRole[];
  created_at: string;
  updated_at: string;
  archived_at: string | null;
  /** This user's own requests-per-minute limit; null means the instance default. */
  rate_limit_per_minute: number | null;
}

export interface User extends UserAttributes {
  id: string;
}

export interface NewUser {
  email: string;
  first_name?: string | undefined;
  last_name?: string | undefined;
  roles?: readonly string[] | undefined;
  password?: string | undefined;
}

export interface UserChanges {
  first_name?: string | undefined;
  last_name?: string | undefined;
  roles?: readonly string[] | undefined;
  rate_limit_per_minute?: number | null | undefined;
}

/** Roles as stored: a JSON array, filtered so a hand-edited row can never grant an unknown role. */
export function parseRoles(stored: string): GlobalRole[] {
  try {
    const value: unknown = JSON.parse(stored);
    return Array.isArray(value) ? value.filter((r): r is GlobalRole => typeof r === 'string' && isGlobalRole(r)) : [];
  } catch {
    return [];
  }
}

function checkRoles(roles: readonly string[]): GlobalRole[] {
  const unknown = roles.filter((r) => !isGlobalRole(r));
  if (unknown.length > 0) {
    throw new AppError('invalid_request', `Unknown role ${unknown.map((r) => `"${r}"`).join(', ')}.`, {
      source: { pointer: '/data/attributes/roles' },
    });
  }
  return [...new Set(roles as GlobalRole[])].sort();
}

/** A user as the API shows it; takes any row with the user's columns (the password hash is never read). */
export const toUser = (row: Omit<UserRow, 'password_hash' | 'email_normalized'>): User => ({
  id: row.id,
  email: row.email,
  first_name: row.first_name,
  last_name: row.last_name,
  roles: parseRoles(row.roles),
  created_at: row.created_at,
  updated_at: row.updated_at,
  archived_at: row.archived_at,
  rate_limit_per_minute: row.rate_limit_per_minute,
});

export interface UserServiceDeps {
  db: Kysely<Database>;
  clock: Clock;
  /** Told after every committed change to a user, which can change what the user's tokens may do. */
  credentials: CredentialChanges;
}

export type UserService = ReturnType<typeof createUserService>;

export function createUserService({ db, clock, credentials }: UserServiceDeps) {
  /** `me` stands for the caller. */
  const resolveId = (principal: Principal, id: string): string => (id === 'me' ? principal.userId : id);

  /** A user the caller may not see is a 404, exactly as if it did not exist. */
  async function visibleUser(principal: Principal, id: string): Promise<UserRow> {
    const userId = resolveId(principal, id);
    if (userId !== principal.userId && !can(principal, 'users:read_any')) throw notFound('user');
    const row = await repo.findUserById(db, userId);
    if (row === undefined) throw notFound('user');
    return row;
  }

  async function managedUser(principal: Principal, id: string): Promise<UserRow> {
    const row = await visibleUser(principal, id);
    if (!can(principal, 'users:manage')) {
      throw new AppError('insufficient_scope', 'Managing users needs the global_user_admin or global_admin role.');
    }
    const isAdmin = parseRoles(row.roles).includes('global_admin');
    if (isAdmin && !can(principal, 'users:grant_global_admin')) {
      throw new AppError('insufficient_scope', 'Only a global_admin may change another global_admin.');
    }
    return row;
  }

  function guardAdminGrant(principal: Principal, before: readonly GlobalRole[], after: readonly GlobalRole[]) {
    if (
      before.includes('global_admin') !== after.includes('global_admin') &&
      !can(principal, 'users:grant_global_admin')
    ) {
      throw new AppError('insufficient_scope', 'Only a global_admin may grant or remove the global_admin role.');
    }
  }

  /** Creates a user with no permission check: for the API after its checks, the CLI and the first start. */
  async function createUser(input: NewUser): Promise<User> {
    const now = clock.now().toISOString();
    const email = input.email.trim();
    if (!/^[^\s@]+@[^\s@]+$/.test(email) || email.length > 320) {
      throw new AppError('invalid_request', `"${email}" is not an email address.`, {
        source: { pointer: '/data/attributes/email' },
      });
    }
    if ((await repo.findUserByEmail(db, email)) !== undefined) {
      throw new AppError('conflict', 'A user with this email already exists.', {
        source: { pointer: '/data/attributes/email' },
      });
    }
    const row: UserRow = {
      id: randomUUID(),
      email,
      email_normalized: repo.normalizeEmail(email),
      first_name: input.first_name ?? '',
      last_name: input.last_name ?? '',
      password_hash: input.password === undefined ? null : await hashPassword(input.password),
      roles: JSON.stringify(checkRoles(input.roles ?? [])),
      created_at: now,
      updated_at: now,
      archived_at: null,
      rate_limit_per_minute: null,
    };
    try {
      await repo.insertUser(db, row);
    } catch (err) {
      // Two concurrent creates: the unique index decides, the loser gets the same 409.
      if ((await repo.findUserByEmail(db, email)) !== undefined) {
        throw new AppError('conflict', 'A user with this email already exists.', { cause: err });
      }
      throw err;
    }
    return toUser(row);
  }

  /** Archives with no permission check. Tokens and sessions are deleted, so un-archiving cannot revive them. */
  async function archiveUser(userId: string): Promise<User> {
    const now = clock.now().toISOString();
    await credentials.changing(() =>
      db.transaction().execute(async (trx) => {
        await repo.updateUser(trx, userId, { archived_at: now, updated_at: now });
        await deleteTokensOfUser(trx, userId);
        await deleteSessionsOfUser(trx, userId);
      }),
    );
    const row = await repo.findUserById(db, userId);
    if (row === undefined) throw notFound('user');
    return toUser(row);
  }

  return {
    createUser,
    archiveUser,

    async findByEmail(email: string): Promise<User | undefined> {
      const row = await repo.findUserByEmail(db, email);
      return row && toUser(row);
    },

    /** Sets a password with no permission check (the operator CLI) and ends the user's web sessions. */
    async setPassword(userId: string, password: string): Promise<{ sessions_ended: number }> {
      if (password.length < 12 || password.length > 1024) {
        throw new AppError('invalid_request', 'A password must be 12 to 1024 characters long.');
      }
      const password_hash = await hashPassword(password);
      return credentials.changing(() =>
        db.transaction().execute(async (trx) => {
          const updated = await trx
            .updateTable('users')
            .set({ password_hash, updated_at: clock.now().toISOString() })
            .where('id', '=', userId)
            .executeTakeFirst();
          if (Number(updated.numUpdatedRows) === 0) throw notFound('user');
          return { sessions_ended: await deleteSessionsOfUser(trx, userId) };
        }),
      );
    },

    /** Sets or clears (null) a user's own limit with no permission check: for the operator CLI. */
    async setRateLimit(userId: string, limit: number | null): Promise<void> {
      await credentials.changing(() =>
        repo.updateUser(db, userId, { rate_limit_per_minute: limit, updated_at: clock.now().toISOString() }),
      );
    },

    async setRoles(userId: string, roles: readonly string[]): Promise<void> {
      const checked = JSON.stringify(checkRoles(roles));
      await credentials.changing(() =>
        repo.updateUser(db, userId, { roles: checked, updated_at: clock.now().toISOString() }),
      );
    },

    /** At once for the caller's own record: it came with the credential, as read for this request. */
    get(principal: Principal, id: string): Awaitable<User> {
      if (principal.user !== undefined && resolveId(principal, id) === principal.userId) return principal.user;
      return visibleUser(principal, id).then(toUser);
    },

    async list(principal: Principal, filter: repo.UserFilter, page: Page): Promise<Paged<User>> {
      if (!can(principal, 'users:read_any')) {
        throw new AppError('insufficient_scope', 'Listing users needs the global_user_admin or global_admin role.');
      }
      const { rows, total } = await repo.listUsers(db, filter, page.size, (page.number - 1) * page.size);
      return { items: rows.map(toUser), total };
    },

    async create(principal: Principal, input: NewUser): Promise<User> {
      if (!can(principal, 'users:manage')) {
        throw new AppError('insufficient_scope', 'Creating users needs the global_user_admin or global_admin role.');
      }
      guardAdminGrant(principal, [], checkRoles(input.roles ?? []));
      return createUser(input);
    },

    async update(principal: Principal, id: string, changes: UserChanges): Promise<User> {
      const userId = resolveId(principal, id);
      const onlyOwnNames =
        userId === principal.userId && changes.roles === undefined && changes.rate_limit_per_minute === undefined;
      const row = onlyOwnNames ? await visibleUser(principal, id) : await managedUser(principal, id);
      const update: UserUpdate = { updated_at: clock.now().toISOString() };
      if (changes.rate_limit_per_minute !== undefined) {
        if (!can(principal, 'users:set_rate_limit')) {
          throw new AppError('insufficient_scope', "Changing a user's rate limit needs the global_admin role.");
        }
        update.rate_limit_per_minute = changes.rate_limit_per_minute;
      }
      if (changes.first_name !== undefined) update.first_name = changes.first_name;
      if (changes.last_name !== undefined) update.last_name = changes.last_name;
      if (changes.roles !== undefined) {
        const roles = checkRoles(changes.roles);
        const before = parseRoles(row.roles);
        guardAdminGrant(principal, before, roles);
        if (
          before.includes('global_admin') &&
          !roles.includes('global_admin') &&
          (await repo.countActiveAdmins(db)) <= 1
        ) {
          throw new AppError('conflict', 'This is the last active global_admin; grant the role to someone else first.');
        }
        update.roles = JSON.stringify(roles);
      }
      await credentials.changing(() => repo.updateUser(db, row.id, update));
      return toUser({ ...row, ...update } as UserRow);
    },

    async archive(principal: Principal, id: string): Promise<User> {
      const row = await managedUser(principal, id);
      if (row.id === principal.userId) {
        throw new AppError('conflict', 'You cannot archive yourself; ask another administrator.');
      }
      if (row.archived_at !== null) return toUser(row);
      return archiveUser(row.id);
    },

    async unarchive(principal: Principal, id: string): Promise<User> {
      const row = await managedUser(principal, id);
      if (row.archived_at === null) return toUser(row);
      const now = clock.now().toISOString();
      await credentials.changing(() => repo.updateUser(db, row.id, { archived_at: null, updated_at: now }));
      return toUser({ ...row, archived_at: null, updated_at: now });
    },
  };
}
