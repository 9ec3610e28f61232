import { setImmediate as nextTurn } from 'node:timers/promises';
import { sql } from 'kysely';
import { describe, expect, it } from 'vitest';
import { buildApp } from '../src/app.js';
import { type DatabaseHandle, openPostgres } from '../src/db/connect.js';
import { migrateToLatest } from '../src/db/migrate.js';
import { createServices } from '../src/services.js';
import { generateToken } from '../src/tokens/token.js';
import { ManualClock, openTestDatabase } from './harness.js';

async function appOn(database: DatabaseHandle, logs: string[] = []) {
  // With the credential cache on, as in production: a cached token must not outlive the database.
  const services = createServices({
    db: database.db,
    clock: new ManualClock(),
    sessionTtlSeconds: 3600,
    credentialCache: { size: 100, watch: database.watch },
  });
  const app = await buildApp(
    { logLevel: 'info', cookieSecure: false, sessionTtlSeconds: 3600, redisUrl: null, trustedProxies: [] },
    {
      services,
      logDestination: { write: (line: string) => void logs.push(line) },
      ping: async () => {
        await sql`select 1`.execute(database.db);
      },
    },
  );
  return { app, services };
}

/** Rule: authentication never fails open. Without storage the answer is 503, never 200, never 401. */
describe('when the database cannot be reached', () => {
  it('answers 503 to a valid SQLite token whose database went away', async () => {
    const database = await openTestDatabase('sqlite');
    await migrateToLatest(database.db);
    const logs: string[] = [];
    const { app, services } = await appOn(database, logs);
    const user = await services.users.createUser({ email: 'outage@example.test', roles: ['developer'] });
    const { token } = await services.tokens.issue(user.id, 'outage');
    const headers = { authorization: `Bearer ${token}` };
    expect((await app.inject({ method: 'GET', url: '/core/users/me', headers })).statusCode).toBe(200);

    await database.close();
    // A request from a socket always starts a new turn of the event loop, and the SQLite
    // change check runs once per turn: wait for the next one, as any client does.
    await nextTurn();
    const res = await app.inject({ method: 'GET', url: '/core/users/me', headers });
    expect(res.statusCode).toBe(503);
    expect(res.headers['retry-after']).toBe('5');
    expect(res.json().errors[0].code).toBe('service_unavailable');
    // The failure is logged with its cause, and with the request id the client got.
    const lines = logs
      .map((line) => JSON.parse(line) as { request_id?: string; msg: string; err?: { message: string } })
      .filter((line) => line.request_id === res.headers['x-request-id']);
    expect(lines.map((line) => line.msg)).toEqual(['request failed', res.json().errors[0].detail]);
    expect(lines[0]?.err?.message).toBeTruthy();
    expect((await app.inject({ method: 'GET', url: '/readyz' })).statusCode).toBe(503);
    expect((await app.inject({ method: 'GET', url: '/healthz' })).statusCode).toBe(200);
    await app.close();
  });

  it('answers 503, not 401, when PostgreSQL refuses connections', async () => {
    const database = openPostgres('postgres://gatehouse:secret@127.0.0.1:1/gatehouse');
    const { app } = await appOn(database);
    const res = await app.inject({
      method: 'GET',
      url: '/core/users/me',
      headers: { authorization: `Bearer ${generateToken()}` },
    });
    expect(res.statusCode).toBe(503);
    expect(res.json().errors[0].detail).not.toContain('secret');
    await app.close();
    await database.close();
  });
});
