import type { Kysely } from 'kysely';
import type { Database } from '../db/schema.js';

export async function insertSession(
  db: Kysely<Database>,
  row: { id: string; user_id: string; secret_hash: string; created_at: string; expires_at: string },
): Promise<void> {
  await db.insertInto('sessions').values(row).execute();
}

export async function findLiveSession(db: Kysely<Database>, secretHash: string, now: string) {
  return db
    .selectFrom('sessions as s')
    .innerJoin('users as u', 'u.id', 's.user_id')
    .select(['s.id as session_id', 's.user_id', 'u.roles', 'u.archived_at'])
    .where('s.secret_hash', '=', secretHash)
    .where('s.expires_at', '>', now)
    .executeTakeFirst();
}

export async function deleteSessionBySecretHash(db: Kysely<Database>, secretHash: string): Promise<void> {
  await db.deleteFrom('sessions').where('secret_hash', '=', secretHash).execute();
}

export async function deleteSessionsOfUser(db: Kysely<Database>, userId: string): Promise<number> {
  const result = await db.deleteFrom('sessions').where('user_id', '=', userId).executeTakeFirst();
  return Number(result.numDeletedRows);
}

export async function deleteExpiredSessions(db: Kysely<Database>, now: string): Promise<void> {
  await db.deleteFrom('sessions').where('expires_at', '<=', now).execute();
}
