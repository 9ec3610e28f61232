import fs from 'node:fs';
import path from 'node:path';
import SQLite from 'better-sqlite3';
import { Kysely, PostgresDialect, SqliteDialect } from 'kysely';
import pg from 'pg';
import { type WatchChanges, watchPostgres, watchSqlite } from './changes.js';
import { registerDirectReader } from './prepared.js';
import type { Database } from './schema.js';

export type Dialect = 'sqlite' | 'postgres';

export interface DatabaseHandle {
  readonly db: Kysely<Database>;
  readonly dialect: Dialect;
  /** Where the data lives, for messages: a file path or the URL without its password. */
  readonly location: string;
  /** Starts watching for credential changes made outside this process (see db/changes.ts). */
  readonly watch: WatchChanges;
  close(): Promise<void>;
}

export interface DatabaseOptions {
  databaseUrl: string | null;
  dataDir: string;
}

/** The one place that knows which dialects exist. */
export function openDatabase(options: DatabaseOptions): DatabaseHandle {
  if (options.databaseUrl !== null) return openPostgres(options.databaseUrl);
  return openSqlite(path.join(options.dataDir, 'gatehouse.sqlite'));
}

export function openSqlite(file: string): DatabaseHandle {
  fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
  const sqlite = new SQLite(file);
  sqlite.pragma('journal_mode = WAL');
  sqlite.pragma('synchronous = NORMAL');
  sqlite.pragma('foreign_keys = ON');
  sqlite.pragma('busy_timeout = 5000');
  // SQLite's built-in lower() folds ASCII only, so a search for "Örjan" found nothing; fold like
  // PostgreSQL's lower() and JavaScript's toLowerCase() (which lower-cases the search term) do.
  sqlite.function('lower', { deterministic: true }, (value: unknown) =>
    typeof value === 'string' ? value.toLowerCase() : value,
  );
  // Statements are prepared once per SQL text and reused: preparing costs more than running
  // a simple indexed query. The cache is bounded; the SQL comes from our own query builder.
  const statements = new Map<string, SQLite.Statement>();
  const database = {
    prepare(sql: string) {
      let statement = statements.get(sql);
      if (statement === undefined) {
        if (statements.size >= 500) statements.clear();
        statement = sqlite.prepare(sql);
        statements.set(sql, statement);
      }
      return statement;
    },
    close: () => sqlite.close(),
  };
  const db = new Kysely<Database>({ dialect: new SqliteDialect({ database }) });
  registerDirectReader(db, (sql, parameters) => database.prepare(sql).all(...parameters));
  return { db, dialect: 'sqlite', location: file, watch: watchSqlite(sqlite), close: () => db.destroy() };
}

export function openPostgres(url: string): DatabaseHandle {
  const pool = new pg.Pool({ connectionString: url, max: 10, connectionTimeoutMillis: 5000 });
  // A pool error (e.g. the server restarting) must not crash the process; queries report it.
  pool.on('error', () => {});
  const db = new Kysely<Database>({ dialect: new PostgresDialect({ pool }) });
  const safe = new URL(url);
  safe.password = safe.password ? '***' : '';
  safe.search = ''; // options such as ?password=… must not reach a log line
  return { db, dialect: 'postgres', location: safe.toString(), watch: watchPostgres(url), close: () => db.destroy() };
}
