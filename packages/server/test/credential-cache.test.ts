import net from 'node:net';
import { sql } from 'kysely';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FEED_APPLICATION_NAME, HEARTBEAT_MS, watchPostgres } from '../src/db/changes.js';
import { openSqlite } from '../src/db/connect.js';
import { createServices } from '../src/services.js';
import { DIALECTS, errorOf, jsonApi, ManualClock, startTestApp, type TestApp, useTestApp } from './harness.js';

const me = (t: Pick<TestApp, 'inject' | 'bearer'>, token: string) =>
  t.inject({ method: 'GET', url: '/core/users/me', headers: t.bearer(token) });

/** Polls until `check` holds; changes made on another node arrive by notification, within moments. */
async function eventually(check: () => Promise<boolean>, ms = 3000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`not true within ${ms} ms`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

describe.each(DIALECTS)(
  'credential cache: a change made through this node reaches its next request (%s)',
  (dialect) => {
    const t = useTestApp(dialect);

    /** A token that has been used once, so its credential is cached. */
    async function warmToken(roles = ['developer']) {
      const { user, token } = await t.userWithToken(roles);
      expect((await me(t, token)).statusCode).toBe(200);
      await eventually(async () => {
        await me(t, token);
        return t.services.credentials.size > 0;
      });
      return { user, token };
    }

    it('caches what a request read, so the tests below start from a cached credential', async () => {
      await warmToken();
      expect(t.services.credentials.size).toBeGreaterThan(0);
    });

    it('answers a cached token at once, without a promise, and a revoked one from the database', async () => {
      const { user, token } = await warmToken();
      const cached = t.services.tokens.authenticate(token, '127.0.0.1');
      expect(cached).not.toBeInstanceOf(Promise);
      expect(cached).toMatchObject({ principal: { userId: user.id } });
      const [issued] = (await t.services.tokens.listOf(user.id, { number: 1, size: 10 })).items;
      await t.services.tokens.revokeOf(user.id, issued?.id ?? '');
      const read = t.services.tokens.authenticate(token, '127.0.0.1');
      expect(read).toBeInstanceOf(Promise);
      expect(await read).toEqual({ rejection: 'unknown' });
    });

    it('answers /users/me with a name changed a moment ago', async () => {
      const { token } = await warmToken();
      const patch = await t.inject({
        method: 'PATCH',
        url: '/core/users/me',
        headers: t.bearer(token),
        payload: jsonApi('user', { first_name: 'Renamed' }),
      });
      expect(patch.statusCode).toBe(200);
      expect((await me(t, token)).json().data.attributes.first_name).toBe('Renamed');
    });

    it('refuses a token revoked through the API on the next request', async () => {
      const { token } = await warmToken();
      const list = await t.inject({ method: 'GET', url: '/core/users/me/user_app_tokens', headers: t.bearer(token) });
      const id = list.json().data[0].id as string;
      const revoke = await t.inject({
        method: 'DELETE',
        url: `/core/users/me/user_app_tokens/${id}`,
        headers: t.bearer(token),
      });
      expect(revoke.statusCode).toBe(204);
      const res = await me(t, token);
      expect(res.statusCode).toBe(401);
      expect(errorOf(res).code).toBe('invalid_token');
    });

    it('applies a shortened expiry on the next request', async () => {
      const { token } = await warmToken();
      t.clock.advance(120);
      try {
        await t.services.settings.update({ token_expiry_seconds: 60 });
        const res = await me(t, token);
        expect(res.statusCode).toBe(401);
        expect(errorOf(res).detail).toContain('expired');
      } finally {
        await t.services.settings.update({ token_expiry_seconds: null });
      }
    });

    it('applies a changed password to updated_at at once (the cached record is dropped on any user change)', async () => {
      const { user, token } = await warmToken();
      const before = (await me(t, token)).json().data.attributes.updated_at as string;
      t.clock.advance(1);
      await t.services.users.setPassword(user.id, 'a new password of some length');
      expect((await me(t, token)).json().data.attributes.updated_at).not.toBe(before);
    });
  },
);

describe('credential cache: a change made by another process reaches the next request (sqlite)', () => {
  let t: Awaited<ReturnType<typeof startTestApp>>;
  let base: string;
  beforeAll(async () => {
    t = await startTestApp('sqlite');
    // Over a real socket, as clients come: the cache checks for other processes' commits once
    // per turn of the event loop, and every request read from a socket starts a new turn.
    base = await t.app.listen({ host: '127.0.0.1', port: 0 });
  });
  afterAll(async () => t.close());

  const meOverHttp = (token: string) => fetch(`${base}/core/users/me`, { headers: t.bearer(token) });

  it('refuses a token the CLI revoked, and applies roles the CLI changed', async () => {
    const file = t.database.file as string;
    const { user, token } = await t.userWithToken();
    const second = await t.userWithToken();
    expect((await meOverHttp(token)).status).toBe(200);
    expect((await meOverHttp(second.token)).status).toBe(200);
    expect(t.services.credentials.size).toBe(2);

    // Another connection to the same file, as the operator CLI opens it.
    const cli = openSqlite(file);
    try {
      const cliServices = createServices({ db: cli.db, clock: new ManualClock(), sessionTtlSeconds: 3600 });
      const [issued] = (await cliServices.tokens.listOf(user.id, { number: 1, size: 10 })).items;
      expect(await cliServices.tokens.revokeOf(user.id, issued?.id as string)).toBe(true);
      expect((await meOverHttp(token)).status).toBe(401);

      await cliServices.users.setRoles(second.user.id, []);
      const res = await meOverHttp(second.token);
      expect(res.status).toBe(403);
      expect(((await res.json()) as { errors: { code: string }[] }).errors[0]?.code).toBe('insufficient_scope');
    } finally {
      await cli.close();
    }
  });
});

describe.runIf(process.env.DATABASE_URL)('credential cache: changes made elsewhere (postgres)', () => {
  let a: Awaited<ReturnType<typeof startTestApp>>;
  let b: Awaited<ReturnType<typeof startTestApp>>;
  let sqlClient: pg.Client;
  let databaseUrl: string;
  beforeAll(async () => {
    a = await startTestApp('postgres');
    b = await startTestApp('postgres', { database: a.database, clock: a.clock });
    const { rows } = await sql<{ name: string }>`select current_database() as name`.execute(a.db);
    const url = new URL(process.env.DATABASE_URL as string);
    url.pathname = `/${rows[0]?.name}`;
    databaseUrl = url.toString();
    sqlClient = new pg.Client({ connectionString: databaseUrl });
    await sqlClient.connect();
    // Both nodes' change feeds are listening before anything is cached.
    await eventually(async () => {
      const r = await sqlClient.query(
        'SELECT count(*)::int AS n FROM pg_stat_activity WHERE application_name = $1 AND datname = current_database()',
        [FEED_APPLICATION_NAME],
      );
      return r.rows[0].n === 2;
    });
  });
  afterAll(async () => {
    await sqlClient.end();
    await b.close();
    await a.close();
  });

  async function warmOn(node: typeof a, token: string) {
    await eventually(async () => {
      expect((await me(node, token)).statusCode).toBe(200);
      return node.services.credentials.size > 0;
    });
  }

  it('refuses a token on one node at once when another node revoked it', async () => {
    const { user, token } = await a.userWithToken();
    await warmOn(a, token);
    await warmOn(b, token);
    const [issued] = (await a.services.tokens.listOf(user.id, { number: 1, size: 10 })).items;
    const revoke = await a.inject({
      method: 'DELETE',
      url: `/core/users/${user.id}/user_app_tokens/${issued?.id}`,
      headers: a.bearer(token),
    });
    expect(revoke.statusCode).toBe(204);
    expect((await me(a, token)).statusCode).toBe(401);
    await eventually(async () => (await me(b, token)).statusCode === 401);
  });

  it('applies roles and archives written by hand in SQL, on every node', async () => {
    const one = await a.userWithToken();
    const two = await a.userWithToken();
    for (const node of [a, b]) {
      await warmOn(node, one.token);
      await warmOn(node, two.token);
    }
    await sqlClient.query(`UPDATE users SET roles = '[]' WHERE id = $1`, [one.user.id]);
    await sqlClient.query(`UPDATE users SET archived_at = '2026-01-01T00:00:00.000Z' WHERE id = $1`, [two.user.id]);
    for (const node of [a, b]) {
      await eventually(async () => (await me(node, one.token)).statusCode === 403);
      await eventually(async () => (await me(node, two.token)).statusCode === 401);
    }
  });

  it('notifies nobody when a token is merely used, and notifies on a revocation', async () => {
    const listener = new pg.Client({ connectionString: databaseUrl });
    await listener.connect();
    const seen: string[] = [];
    listener.on('notification', (n) => seen.push(n.payload ?? ''));
    await listener.query('LISTEN gatehouse_credentials');
    try {
      const { user, token } = await a.userWithToken();
      a.clock.advance(120); // the next use records last_accessed_at
      expect((await me(a, token)).statusCode).toBe(200);
      const touched = await sqlClient.query('SELECT last_accessed_at FROM user_app_tokens WHERE user_id = $1', [
        user.id,
      ]);
      expect(touched.rows[0].last_accessed_at).not.toBeNull();
      await new Promise((resolve) => setTimeout(resolve, 200));
      expect(seen).toEqual([]);
      await a.services.tokens.revokeOf(
        user.id,
        (await a.services.tokens.listOf(user.id, { number: 1, size: 1 })).items[0]?.id as string,
      );
      await eventually(async () => seen.includes('user_app_tokens'));
    } finally {
      await listener.end();
    }
  });

  it('reads the database while its change feed is down, and caches again once it is back', async () => {
    const { user, token } = await a.userWithToken();
    await warmOn(a, token);
    await sqlClient.query(
      'SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1 AND datname = current_database()',
      [FEED_APPLICATION_NAME],
    );
    await new Promise((resolve) => setTimeout(resolve, 50)); // the feed has seen its connection go
    // Used while the feed is down (a cache that kept this answer would miss the change below)…
    expect((await me(a, token)).statusCode).toBe(200);
    // …and a change whose notification cannot reach a feed that is down: the cache must not answer.
    await sqlClient.query('DELETE FROM user_app_tokens WHERE user_id = $1', [user.id]);
    expect((await me(a, token)).statusCode).toBe(401);
    expect((await me(b, token)).statusCode).toBe(401);

    const other = await a.userWithToken();
    await warmOn(a, other.token);
    await warmOn(b, other.token);
  });
});

/** A TCP relay to PostgreSQL that can go silent: it stops passing bytes but keeps every connection open. */
async function silentableRelay(target: URL) {
  const sockets: net.Socket[] = [];
  let silent = false;
  const server = net.createServer((client) => {
    const upstream = net.connect(Number(target.port || 5432), target.hostname);
    sockets.push(client, upstream);
    client.on('data', (d) => {
      if (!silent) upstream.write(d);
    });
    upstream.on('data', (d) => {
      if (!silent) client.write(d);
    });
    client.on('error', () => upstream.destroy());
    upstream.on('error', () => client.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as net.AddressInfo).port;
  return {
    port,
    goSilent: () => {
      silent = true;
    },
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

describe.runIf(process.env.DATABASE_URL)('credential cache: a feed that breaks without a word (postgres)', () => {
  it('notices within a few heartbeats and stops answering from the cache', async () => {
    const base = await startTestApp('postgres');
    const { rows } = await sql<{ name: string }>`select current_database() as name`.execute(base.db);
    const direct = new URL(process.env.DATABASE_URL as string);
    direct.pathname = `/${rows[0]?.name}`;
    const relay = await silentableRelay(direct);
    const relayed = new URL(direct);
    relayed.hostname = '127.0.0.1';
    relayed.port = String(relay.port);
    // A node whose change feed goes through the relay; its queries go straight to the database.
    const node = await startTestApp('postgres', {
      database: base.database,
      clock: base.clock,
      watch: watchPostgres(relayed.toString()),
    });
    const sqlClient = new pg.Client({ connectionString: direct.toString() });
    await sqlClient.connect();
    try {
      const { user, token } = await base.userWithToken();
      // The node's feed must be listening first (on a busy machine it can still be connecting,
      // and until it listens the cache answers nothing, so a silent relay would prove nothing).
      await eventually(async () => {
        expect((await me(node, token)).statusCode).toBe(200);
        return node.services.credentials.active && node.services.credentials.size > 0;
      });
      relay.goSilent();
      // The revocation's notification can no longer reach the node; its heartbeat stops coming back.
      await sqlClient.query('DELETE FROM user_app_tokens WHERE user_id = $1', [user.id]);
      const started = Date.now();
      await eventually(async () => (await me(node, token)).statusCode === 401, 4 * HEARTBEAT_MS);
      expect(Date.now() - started).toBeLessThan(3 * HEARTBEAT_MS);
      expect(node.logs.some((l) => l.includes('lost the PostgreSQL change feed'))).toBe(true);
    } finally {
      await sqlClient.end();
      await node.close();
      await relay.close();
      await base.close();
    }
  }, 20_000);
});
