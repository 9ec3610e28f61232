import type { Kysely } from 'kysely';
import { prepared } from '../db/prepared.js';
import type { Database, TokenRow } from '../db/schema.js';

export type TokenInsert = Omit<TokenRow, 'last_accessed_at' | 'last_accessed_ip'>;

export async function insertToken(db: Kysely<Database>, row: TokenInsert): Promise<void> {
  await db
    .insertInto('user_app_tokens')
    .values({ ...row, last_accessed_at: null, last_accessed_ip: null })
    .execute();
}

export async function countTokensOfUser(db: Kysely<Database>, userId: string): Promise<number> {
  const row = await db
    .selectFrom('user_app_tokens')
    .select((eb) => eb.fn.countAll<string | number>().as('n'))
    .where('user_id', '=', userId)
    .executeTakeFirstOrThrow();
  return Number(row.n);
}

export async function listTokensOfUser(
  db: Kysely<Database>,
  userId: string,
  limit: number,
  offset: number,
): Promise<TokenRow[]> {
  return db
    .selectFrom('user_app_tokens')
    .selectAll()
    .where('user_id', '=', userId)
    .orderBy('created_at', 'desc')
    .orderBy('id')
    .limit(limit)
    .offset(offset)
    .execute();
}

export async function findTokenOfUser(
  db: Kysely<Database>,
  userId: string,
  tokenId: string,
): Promise<TokenRow | undefined> {
  return db
    .selectFrom('user_app_tokens')
    .selectAll()
    .where('user_id', '=', userId)
    .where('id', '=', tokenId)
    .executeTakeFirst();
}

export async function deleteToken(db: Kysely<Database>, userId: string, tokenId: string): Promise<boolean> {
  const result = await db
    .deleteFrom('user_app_tokens')
    .where('user_id', '=', userId)
    .where('id', '=', tokenId)
    .executeTakeFirst();
  return Number(result.numDeletedRows) > 0;
}

export async function deleteTokensOfUser(db: Kysely<Database>, userId: string): Promise<number> {
  const result = await db.deleteFrom('user_app_tokens').where('user_id', '=', userId).executeTakeFirst();
  return Number(result.numDeletedRows);
}

const credentialQuery = prepared(1, (db, tokenHash: string) =>
  db
    .selectFrom('user_app_tokens as t')
    .innerJoin('users as u', 'u.id', 't.user_id')
    .select((eb) => [
      't.id as token_id',
      't.created_at as token_created_at',
      't.last_accessed_at',
      'u.id',
      'u.email',
      'u.first_name',
      'u.last_name',
      'u.roles',
      'u.created_at',
      'u.updated_at',
      'u.archived_at',
      'u.rate_limit_per_minute',
      eb
        .selectFrom('instance_settings')
        .select('value')
        .where('key', '=', 'token_expiry_seconds')
        .as('token_expiry_seconds'),
      eb
        .selectFrom('instance_settings')
        .select('value')
        .where('key', '=', 'rate_limit_per_minute')
        .as('rate_limit_per_minute_default'),
    ])
    .where('t.token_hash', '=', tokenHash),
);

/**
 * The hot-path look-up: one indexed query for the token, its user (everything but the password
 * hash, so `/users/me` needs no second read), and the two instance settings every
 * authentication needs (stored JSON, null when never set).
 */
export type CredentialRow = Awaited<ReturnType<typeof credentialQuery>>[number];

export async function findCredentialByHash(
  db: Kysely<Database>,
  tokenHash: string,
): Promise<CredentialRow | undefined> {
  return (await credentialQuery(db, tokenHash))[0];
}

/** Records use at most once per interval: the WHERE makes concurrent nodes write once between them. */
export async function touchToken(
  db: Kysely<Database>,
  tokenId: string,
  at: string,
  ip: string,
  notSince: string,
): Promise<void> {
  await db
    .updateTable('user_app_tokens')
    .set({ last_accessed_at: at, last_accessed_ip: ip })
    .where('id', '=', tokenId)
    .where((eb) => eb.or([eb('last_accessed_at', 'is', null), eb('last_accessed_at', '<=', notSince)]))
    .execute();
}

/** Counts live tokens (of unarchived users) created in (`after`, `atOrBefore`]. */
export async function countTokensCreatedBetween(
  db: Kysely<Database>,
  after: string | null,
  atOrBefore: string,
): Promise<{ tokens: number; users: number }> {
  let query = db
    .selectFrom('user_app_tokens as t')
    .innerJoin('users as u', 'u.id', 't.user_id')
    .select((eb) => [
      eb.fn.countAll<string | number>().as('tokens'),
      eb.fn.count<string | number>('t.user_id').distinct().as('users'),
    ])
    .where('u.archived_at', 'is', null)
    .where('t.created_at', '<=', atOrBefore);
  if (after !== null) query = query.where('t.created_at', '>', after);
  const row = await query.executeTakeFirstOrThrow();
  return { tokens: Number(row.tokens), users: Number(row.users) };
}
