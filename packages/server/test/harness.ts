import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { InjectOptions, LightMyRequestResponse } from 'fastify';
import type { Kysely } from 'kysely';
import { sql } from 'kysely';
import pg from 'pg';
import { afterAll, beforeAll, expect } from 'vitest';
import { type App, buildApp } from '../src/app.js';
import type { Clock } from '../src/clock.js';
import type { WatchChanges } from '../src/db/changes.js';
import { type DatabaseHandle, openPostgres, openSqlite } from '../src/db/connect.js';
import { migrateToLatest } from '../src/db/migrate.js';
import type { Database } from '../src/db/schema.js';
import { createServices, type Services } from '../src/services.js';
import type { User } from '../src/users/service.js';

export type Dialect = 'sqlite' | 'postgres';

/** SQLite always; PostgreSQL too when DATABASE_URL is set (CI sets it). */
export const DIALECTS: Dialect[] = process.env.DATABASE_URL ? ['sqlite', 'postgres'] : ['sqlite'];

/** A clock the test moves by hand. Starts at the real time so ordering against real timestamps holds. */
export class ManualClock implements Clock {
  private ms = Date.now();
  now(): Date {
    return new Date(this.ms);
  }
  advance(seconds: number): void {
    this.ms += seconds * 1000;
  }
}

/** A throwaway database: a temp SQLite file, or a fresh PostgreSQL database dropped afterwards. */
export async function openTestDatabase(dialect: Dialect): Promise<DatabaseHandle & { file: string | null }> {
  if (dialect === 'sqlite') {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gatehouse-test-'));
    const file = path.join(dir, 'gatehouse.sqlite');
    const handle = openSqlite(file);
    return {
      ...handle,
      file,
      close: async () => {
        await handle.close();
        fs.rmSync(dir, { recursive: true, force: true });
      },
    };
  }
  const adminUrl = process.env.DATABASE_URL;
  if (adminUrl === undefined) throw new Error('DATABASE_URL is not set');
  const name = `gatehouse_test_${randomUUID().replaceAll('-', '').slice(0, 16)}`;
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${name}`);
  await admin.end();
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  const handle = openPostgres(url.toString());
  return {
    ...handle,
    file: null,
    close: async () => {
      await handle.close();
      const c = new pg.Client({ connectionString: adminUrl });
      await c.connect();
      await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await c.end();
    },
  };
}

export interface TestApp {
  dialect: Dialect;
  app: App;
  db: Kysely<Database>;
  services: Services;
  clock: ManualClock;
  logs: string[];
  /** Every token this suite has seen: checked against the logs and the database at the end. */
  tokens: Set<string>;
  inject(options: InjectOptions): Promise<LightMyRequestResponse>;
  createUser(roles?: string[], extra?: { password?: string }): Promise<User>;
  createToken(userId: string, label?: string): Promise<string>;
  userWithToken(roles?: string[]): Promise<{ user: User; token: string }>;
  bearer(token: string): Record<string, string>;
}

function record(tokens: Set<string>, response: LightMyRequestResponse): void {
  try {
    const body = response.json() as { data?: { attributes?: { token?: unknown } } };
    const token = body?.data?.attributes?.token;
    if (typeof token === 'string') tokens.add(token);
  } catch {
    // not JSON
  }
}

/** Every value of every row of every table, as one string, to search for leaked secrets. */
async function dumpTables(db: Kysely<Database>): Promise<string> {
  const tables = ['users', 'user_app_tokens', 'sessions', 'instance_settings'] as const;
  const parts: string[] = [];
  for (const table of tables) parts.push(JSON.stringify(await db.selectFrom(table).selectAll().execute()));
  return parts.join('\n');
}

export interface TestAppOptions {
  redisUrl?: string | null;
  trustedProxies?: string[];
  /** Share another test app's database (two nodes of one deployment). */
  database?: DatabaseHandle & { file: string | null };
  clock?: ManualClock;
  /** How the credential cache learns of changes made elsewhere; the database's own feed when absent. */
  watch?: WatchChanges;
}

export async function startTestApp(
  dialect: Dialect,
  options: TestAppOptions = {},
): Promise<TestApp & { close(): Promise<void>; database: DatabaseHandle & { file: string | null } }> {
  const shared = options.database !== undefined;
  const database = options.database ?? (await openTestDatabase(dialect));
  if (!shared) await migrateToLatest(database.db);
  const clock = options.clock ?? new ManualClock();
  const services = createServices({
    db: database.db,
    clock,
    sessionTtlSeconds: 3600,
    credentialCache: { size: 10_000, watch: options.watch ?? database.watch },
  });
  const logs: string[] = [];
  const app = await buildApp(
    {
      logLevel: 'debug',
      cookieSecure: false,
      sessionTtlSeconds: 3600,
      redisUrl: options.redisUrl ?? null,
      trustedProxies: options.trustedProxies ?? [],
    },
    {
      services,
      clock,
      ping: async () => {
        await sql`select 1`.execute(database.db);
      },
      logDestination: { write: (line: string) => void logs.push(line) },
    },
  );
  await app.ready();
  const tokens = new Set<string>();

  const t: TestApp = {
    dialect,
    app,
    db: database.db,
    services,
    clock,
    logs,
    tokens,
    async inject(options) {
      const response = await app.inject(options);
      record(tokens, response);
      return response;
    },
    async createUser(roles = ['developer'], extra = {}) {
      return services.users.createUser({
        email: `user-${randomUUID()}@example.test`,
        first_name: 'Test',
        last_name: 'User',
        roles,
        ...extra,
      });
    },
    async createToken(userId, label = 'test token') {
      const issued = await services.tokens.issue(userId, label);
      tokens.add(issued.token);
      return issued.token;
    },
    async userWithToken(roles = ['developer']) {
      const user = await t.createUser(roles);
      return { user, token: await t.createToken(user.id) };
    },
    bearer: (token) => ({ authorization: `Bearer ${token}` }),
  };

  return {
    ...t,
    database,
    async close() {
      await app.close();
      if (shared) {
        // The owning app checks storage; this one checks its own log lines.
        for (const token of tokens) expect(logs.join('').includes(token), 'a token appeared in the logs').toBe(false);
        return;
      }
      // Rule 3: no token in plaintext in any log line or any stored value.
      const logText = logs.join('');
      const stored = await dumpTables(database.db);
      const fileBytes =
        database.file === null
          ? ''
          : [database.file, `${database.file}-wal`]
              .filter((f) => fs.existsSync(f))
              .map((f) => fs.readFileSync(f).toString('latin1'))
              .join('');
      await database.close();
      for (const token of tokens) {
        expect(logText.includes(token), 'a token appeared in the logs').toBe(false);
        expect(stored.includes(token), 'a token appeared in a database row').toBe(false);
        expect(fileBytes.includes(token), 'a token appeared in the SQLite file').toBe(false);
      }
    },
  };
}

/**
 * Starts a test app for a describe block and closes it afterwards, checking that none of the
 * tokens the block saw leaked into logs or storage. Access the app inside tests only.
 */
export function useTestApp(dialect: Dialect): TestApp {
  let current: (TestApp & { close(): Promise<void> }) | undefined;
  beforeAll(async () => {
    current = await startTestApp(dialect);
  });
  afterAll(async () => {
    await current?.close();
  });
  return new Proxy({} as TestApp, {
    get(_target, prop) {
      if (current === undefined) throw new Error('test app used outside a test');
      return current[prop as keyof TestApp];
    },
  });
}

export const jsonApi = (type: string, attributes: Record<string, unknown>) => ({ data: { type, attributes } });

export function errorOf(response: LightMyRequestResponse): {
  status: string;
  code: string;
  detail: string;
  meta: { request_id: string };
} {
  const body = response.json() as {
    errors: Array<{ status: string; code: string; detail: string; meta: { request_id: string } }>;
  };
  expect(body.errors).toHaveLength(1);
  const [error] = body.errors;
  if (error === undefined) throw new Error('no error object');
  expect(error.status).toBe(String(response.statusCode));
  expect(error.meta.request_id).toBe(response.headers['x-request-id']);
  return error;
}
