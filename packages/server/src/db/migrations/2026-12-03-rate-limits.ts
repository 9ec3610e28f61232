import type { Kysely } from 'kysely';

// Frozen: never edit a migration that has shipped; add a new one instead.
export async function up(db: Kysely<unknown>): Promise<void> {
  // A per-user override of the instance's requests-per-minute limit; null means the default.
  await db.schema.alterTable('users').addColumn('rate_limit_per_minute', 'integer').execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable('users').dropColumn('rate_limit_per_minute').execute();
}
