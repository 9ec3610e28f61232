import { type Kysely, type Migration, type MigrationResult, Migrator } from 'kysely';
import * as initial from './migrations/2026-12-03-initial.js';
import * as rateLimits from './migrations/2026-12-03-rate-limits.js';
import type { Database } from './schema.js';

/** Migrations in order, named by date. Listed here so the build needs no file-system scan. */
const migrations: Record<string, Migration> = {
  '2026-12-03-initial': initial,
  '2026-12-03-rate-limits': rateLimits,
};

export async function migrateToLatest(db: Kysely<Database>): Promise<MigrationResult[]> {
  const migrator = new Migrator({ db, provider: { getMigrations: async () => migrations } });
  const { error, results } = await migrator.migrateToLatest();
  if (error !== undefined) {
    const reason = error instanceof Error ? error.message : String(error);
    const failed = results?.find((r) => r.status === 'Error')?.migrationName;
    throw new Error(
      failed === undefined ? `Cannot migrate the database: ${reason}` : `Migration ${failed} failed: ${reason}`,
      { cause: error },
    );
  }
  return results ?? [];
}
