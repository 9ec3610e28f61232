import { type Kysely, type Migration, type MigrationResult, Migrator } from 'kysely';
import * as initial from './migrations/2026-12-03-initial.js';
import * as rateLimits from './migrations/2026-12-03-rate-limits.js';
import * as tokenChangeNotifications from './migrations/2026-12-03-token-change-notifications.js';
import type { Database } from './schema.js';

/**
 * Migrations, named by date. Listed here so the build needs no file-system scan. Kysely runs
 * them in the names' alphabetical order, so a new name must sort after every earlier one
 * (migrate.test.ts checks that this list is in that order).
 */
export const migrations: Record<string, Migration> = {
  '2026-12-03-initial': initial,
  '2026-12-03-rate-limits': rateLimits,
  '2026-12-03-token-change-notifications': tokenChangeNotifications,
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
