import { type Kysely, sql } from 'kysely';
import { prepared } from '../db/prepared.js';
import type { Database, NewUserRow, UserRow, UserUpdate } from '../db/schema.js';

export const normalizeEmail = (email: string): string => email.trim().toLowerCase();

const userById = prepared(1, (db, id: string) => db.selectFrom('users').selectAll().where('id', '=', id));

/** On the hot path of every `/core/users/me`, so compiled once (see db/prepared.ts). */
export async function findUserById(db: Kysely<Database>, id: string): Promise<UserRow | undefined> {
  return (await userById(db, id))[0];
}

export async function findUserByEmail(db: Kysely<Database>, email: string): Promise<UserRow | undefined> {
  return db.selectFrom('users').selectAll().where('email_normalized', '=', normalizeEmail(email)).executeTakeFirst();
}

export async function insertUser(db: Kysely<Database>, row: NewUserRow): Promise<void> {
  await db.insertInto('users').values(row).execute();
}

export async function updateUser(db: Kysely<Database>, id: string, changes: UserUpdate): Promise<void> {
  await db.updateTable('users').set(changes).where('id', '=', id).execute();
}

export async function countUsers(db: Kysely<Database>): Promise<number> {
  const row = await db
    .selectFrom('users')
    .select((eb) => eb.fn.countAll<string | number>().as('n'))
    .executeTakeFirstOrThrow();
  return Number(row.n);
}

/** Unarchived users holding global_admin (roles are a JSON array of names). */
export async function countActiveAdmins(db: Kysely<Database>): Promise<number> {
  const row = await db
    .selectFrom('users')
    .select((eb) => eb.fn.countAll<string | number>().as('n'))
    .where('archived_at', 'is', null)
    .where('roles', 'like', '%"global_admin"%')
    .executeTakeFirstOrThrow();
  return Number(row.n);
}

export interface UserFilter {
  search?: string | undefined;
  archived?: boolean | undefined;
}

const escapeLike = (s: string): string => s.replace(/[\\%_]/g, (c) => `\\${c}`);

function filtered(db: Kysely<Database>, filter: UserFilter) {
  let query = db.selectFrom('users');
  if (filter.search !== undefined && filter.search !== '') {
    const pattern = `%${escapeLike(filter.search.toLowerCase())}%`;
    query = query.where((eb) =>
      eb.or(
        (['email_normalized', 'first_name', 'last_name'] as const).map(
          (col) => sql<boolean>`lower(${sql.ref(col)}) like ${pattern} escape '\\'`,
        ),
      ),
    );
  }
  if (filter.archived === true) query = query.where('archived_at', 'is not', null);
  if (filter.archived === false) query = query.where('archived_at', 'is', null);
  return query;
}

export async function listUsers(
  db: Kysely<Database>,
  filter: UserFilter,
  limit: number,
  offset: number,
): Promise<{ rows: UserRow[]; total: number }> {
  const [rows, count] = await Promise.all([
    filtered(db, filter).selectAll().orderBy('email_normalized').limit(limit).offset(offset).execute(),
    filtered(db, filter)
      .select((eb) => eb.fn.countAll<string | number>().as('n'))
      .executeTakeFirstOrThrow(),
  ]);
  return { rows, total: Number(count.n) };
}
