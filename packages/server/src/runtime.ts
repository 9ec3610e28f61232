import { sql } from 'kysely';
import { type Clock, systemClock } from './clock.js';
import type { Config } from './config/config.js';
import { type DatabaseHandle, openDatabase } from './db/connect.js';
import { migrateToLatest } from './db/migrate.js';
import { createServices, type Services } from './services.js';

export interface Runtime {
  database: DatabaseHandle;
  services: Services;
  ping: () => Promise<void>;
  close: () => Promise<void>;
}

/** Opens and migrates the configured database and wires the services: what `serve` and the CLI share. */
export async function openRuntime(config: Config, clock: Clock = systemClock): Promise<Runtime> {
  const database = openDatabase(config);
  try {
    await migrateToLatest(database.db);
  } catch (err) {
    await database.close();
    throw err;
  }
  const services = createServices({
    db: database.db,
    clock,
    sessionTtlSeconds: config.sessionTtlSeconds,
    // Inert until the HTTP app starts it; the CLI never does.
    credentialCache: { size: config.credentialCacheSize, watch: database.watch },
  });
  return {
    database,
    services,
    ping: async () => {
      await sql`select 1`.execute(database.db);
    },
    close: () => database.close(),
  };
}
