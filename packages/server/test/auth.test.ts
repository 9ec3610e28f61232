import { createHash, randomBytes, randomUUID } from 'node:crypto';
import type { InjectOptions, LightMyRequestResponse } from 'fastify';
import { beforeAll, describe, expect, it } from 'vitest';
import type { User } from '../src/users/service.js';
import { DIALECTS, errorOf, jsonApi, useTestApp } from './harness.js';

const COOKIE = 'gatehouse_session';
const CSRF = 'x-csrf-token';
const CHALLENGE = 'Bearer realm="gatehouse"';
const PASSWORD = 'Tr0ub4dor & 3 horse staple';

const sha256 = (value: string): string => createHash('sha256').update(value).digest('hex');
const cookieHeader = (secret: string) => ({ cookie: `${COOKIE}=${secret}` });

/** A client address nobody else in the file uses: the sign-in limits count failures per address. */
let addresses = 0;
const freshAddress = (): string => {
  addresses++;
  return `10.77.${Math.floor(addresses / 250)}.${(addresses % 250) + 1}`;
};

interface Session {
  secret: string;
  csrf: string;
  /** Only the cookie: no bearer token, no CSRF header. */
  cookie: Record<string, string>;
  /** The cookie and the CSRF header, as the web app sends on a state-changing request. */
  write: Record<string, string>;
}

/** The one Set-Cookie header of a response, raw and parsed. */
function sessionCookie(res: LightMyRequestResponse) {
  const header = res.headers['set-cookie'];
  const raw = Array.isArray(header) ? header : header === undefined ? [] : [header];
  expect(raw).toHaveLength(1);
  const parsed = res.cookies.find((c) => c.name === COOKIE);
  if (parsed === undefined) throw new Error(`no ${COOKIE} cookie`);
  return { raw: raw[0] ?? '', parsed };
}

describe.each(DIALECTS)('web sign-in (%s)', (dialect) => {
  const t = useTestApp(dialect);

  /**
   * Every request from an address of its own unless a test picks one: the gateway also limits
   * anonymous requests and failed authentication per address, and those limits are not under test here.
   */
  const inject = (options: InjectOptions) => t.inject({ remoteAddress: freshAddress(), ...options });

  const login = (email: unknown, password: unknown, remoteAddress = freshAddress()) =>
    inject({ method: 'POST', url: '/auth/login', payload: { email, password }, remoteAddress });

  /** Signs in (must succeed) and registers the secrets with the harness, which checks logs and storage for them. */
  async function signIn(email: string, password = PASSWORD, remoteAddress = freshAddress()): Promise<Session> {
    const res = await login(email, password, remoteAddress);
    expect(res.statusCode, res.body).toBe(200);
    const secret = sessionCookie(res).parsed.value;
    const csrf: string = res.json().meta.csrf_token;
    t.tokens.add(secret);
    t.tokens.add(csrf);
    return { secret, csrf, cookie: cookieHeader(secret), write: { ...cookieHeader(secret), [CSRF]: csrf } };
  }

  /** A user with the shared password; hashing it costs a few hundred milliseconds, so tests share them. */
  async function passwordUser(roles: string[] = ['developer'], email?: string): Promise<User> {
    t.tokens.add(PASSWORD);
    if (email === undefined) return t.createUser(roles, { password: PASSWORD });
    return t.services.users.createUser({ email, roles, password: PASSWORD });
  }

  const sessionsOf = (userId: string) =>
    t.db.selectFrom('sessions').selectAll().where('user_id', '=', userId).execute();
  const countSessions = async () => (await t.db.selectFrom('sessions').select('id').execute()).length;
  const tokenCount = async (userId: string) => (await t.services.tokens.listOf(userId, { number: 1, size: 1 })).total;
  const me = (headers: Record<string, string>) => inject({ method: 'GET', url: '/core/users/me', headers });
  const createToken = (headers: Record<string, string>, label = 'from the web app') =>
    inject({
      method: 'POST',
      url: '/core/users/me/user_app_tokens',
      headers,
      payload: jsonApi('user_app_token', { label }),
    });

  /** A signed-in developer shared by the tests that need only a working session of their own. */
  let alice: User;
  beforeAll(async () => {
    alice = await passwordUser(['developer'], `Alice.Example+${randomUUID().slice(0, 8)}@Example.TEST`);
  });

  describe('POST /auth/login', () => {
    it('signs in with the email in any letter case and sets an HttpOnly, SameSite=Lax session cookie', async () => {
      for (const email of [alice.email, alice.email.toLowerCase(), alice.email.toUpperCase()]) {
        const res = await login(email, PASSWORD);
        expect(res.statusCode, `${email}: ${res.body}`).toBe(200);
        expect(res.headers['cache-control']).toBe('no-store');

        const { raw, parsed } = sessionCookie(res);
        expect(parsed.value).toMatch(/^[0-9a-f]{64}$/);
        expect(parsed.httpOnly).toBe(true);
        expect(parsed.sameSite).toBe('Lax');
        expect(parsed.path).toBe('/');
        expect(parsed.maxAge).toBe(3600);
        expect(parsed.domain).toBeUndefined();
        expect(raw).toMatch(/;\s*HttpOnly(;|$)/i);
        expect(raw).toMatch(/;\s*SameSite=Lax(;|$)/i);
        expect(raw).toMatch(/;\s*Path=\/(;|$)/);
        t.tokens.add(parsed.value);

        const body = res.json();
        expect(body.data).toMatchObject({ type: 'user', id: alice.id });
        expect(body.data.attributes).toMatchObject({ email: alice.email, roles: ['developer'], archived_at: null });
        expect(body.data.attributes).not.toHaveProperty('password_hash');
        expect(res.body).not.toContain('scrypt$');
        expect(body.meta.csrf_token).toMatch(/^[0-9a-f]{64}$/);
        expect(body.meta.csrf_token).not.toBe(parsed.value);
        t.tokens.add(body.meta.csrf_token);
        expect(body.meta.expires_at).toBe(new Date(t.clock.now().getTime() + 3600_000).toISOString());
      }
    });

    it('stores only the SHA-256 of the cookie value, never the value itself', async () => {
      const before = (await sessionsOf(alice.id)).length;
      const { secret } = await signIn(alice.email);
      const rows = await sessionsOf(alice.id);
      expect(rows).toHaveLength(before + 1);
      const row = rows.find((r) => r.secret_hash === sha256(secret));
      expect(row).toBeDefined();
      expect(row?.expires_at).toBe(new Date(t.clock.now().getTime() + 3600_000).toISOString());
      expect(JSON.stringify(rows)).not.toContain(secret);
    });

    it('issues a fresh secret on every sign-in, ignoring a cookie the browser already holds', async () => {
      const planted = randomBytes(32).toString('hex');
      const res = await inject({
        method: 'POST',
        url: '/auth/login',
        headers: cookieHeader(planted),
        payload: { email: alice.email, password: PASSWORD },
        remoteAddress: freshAddress(),
      });
      expect(res.statusCode).toBe(200);
      const secret = sessionCookie(res).parsed.value;
      t.tokens.add(secret);
      expect(secret).not.toBe(planted);
      expect((await me(cookieHeader(planted))).statusCode).toBe(401);
      expect((await me(cookieHeader(secret))).statusCode).toBe(200);
    });

    it('answers 401 invalid_credentials with one message for every kind of failure, and sets no cookie', async () => {
      const archived = await passwordUser();
      await t.services.users.archiveUser(archived.id);
      const passwordless = await t.createUser(['developer']);
      const before = await countSessions();

      const attempts: Array<[string, string, string]> = [
        ['wrong password', alice.email, `${PASSWORD}!`],
        ['unknown email', `nobody-${randomUUID()}@example.test`, PASSWORD],
        ['archived user', archived.email, PASSWORD],
        ['user without a password', passwordless.email, PASSWORD],
        ['user without a password, empty-looking password', passwordless.email, ' '],
      ];
      const errors = [];
      for (const [name, email, password] of attempts) {
        const res = await login(email, password);
        expect(res.statusCode, name).toBe(401);
        expect(res.headers['set-cookie'], name).toBeUndefined();
        expect(res.headers['content-type']).toMatch(/^application\/vnd\.api\+json/);
        const error = errorOf(res);
        expect(error.code, name).toBe('invalid_credentials');
        expect(res.body, name).not.toContain(email);
        errors.push({ title: res.json().errors[0].title, detail: error.detail });
      }
      // No account enumeration: the answers cannot be told apart.
      expect(new Set(errors.map((e) => JSON.stringify(e))).size).toBe(1);
      expect(await countSessions()).toBe(before);
    });

    const malformed: Array<[string, number, string, { payload: string; type?: string }]> = [
      ['missing password', 400, 'invalid_request', { payload: '{"email":"x@example.test"}' }],
      ['missing email', 400, 'invalid_request', { payload: JSON.stringify({ password: PASSWORD }) }],
      ['an empty object', 400, 'invalid_request', { payload: '{}' }],
      [
        'email of the wrong type',
        400,
        'invalid_request',
        { payload: JSON.stringify({ email: 42, password: PASSWORD }) },
      ],
      [
        'password of the wrong type',
        400,
        'invalid_request',
        { payload: '{"email":"x@example.test","password":["a"]}' },
      ],
      ['null password', 400, 'invalid_request', { payload: '{"email":"x@example.test","password":null}' }],
      ['empty password', 400, 'invalid_request', { payload: '{"email":"x@example.test","password":""}' }],
      [
        '2,000-character password',
        400,
        'invalid_request',
        { payload: JSON.stringify({ email: 'x@example.test', password: 'x'.repeat(2000) }) },
      ],
      [
        'unknown field',
        400,
        'invalid_request',
        { payload: '{"email":"x@example.test","password":"p","remember":true}' },
      ],
      [
        'a JSON:API document',
        400,
        'invalid_request',
        { payload: JSON.stringify(jsonApi('session', { email: 'x', password: 'p' })) },
      ],
      ['a JSON array', 400, 'invalid_request', { payload: '[]' }],
      [
        '__proto__ key',
        400,
        'invalid_request',
        { payload: '{"email":"x@example.test","password":"p","__proto__":{"admin":true}}' },
      ],
      ['malformed JSON', 400, 'invalid_json', { payload: '{"email":"x@example.test","password":' }],
      ['empty body', 400, 'invalid_json', { payload: '' }],
      [
        'a form post',
        415,
        'unsupported_media_type',
        { payload: 'email=x%40example.test&password=p', type: 'application/x-www-form-urlencoded' },
      ],
    ];

    it.each(malformed)('%s → %i %s, and no session', async (_name, status, code, { payload, type }) => {
      const before = await countSessions();
      const res = await inject({
        method: 'POST',
        url: '/auth/login',
        headers: { 'content-type': type ?? 'application/json' },
        payload,
        remoteAddress: freshAddress(),
      });
      expect(res.statusCode).toBe(status);
      expect(errorOf(res).code).toBe(code);
      expect(res.headers['content-type']).toMatch(/^application\/vnd\.api\+json/);
      expect(res.headers['set-cookie']).toBeUndefined();
      expect(await countSessions()).toBe(before);
      expect(({} as Record<string, unknown>).admin).toBeUndefined();
    });

    it('does not count malformed requests as failed sign-ins', async () => {
      const address = freshAddress();
      for (let i = 0; i < 2 * 20; i++) {
        const res = await inject({
          method: 'POST',
          url: '/auth/login',
          payload: { email: alice.email, password: i },
          remoteAddress: address,
        });
        expect(res.statusCode).toBe(400);
      }
      await signIn(alice.email, PASSWORD, address);
    });
  });

  describe('throttling failed sign-ins', () => {
    const expectBlocked = (res: LightMyRequestResponse) => {
      expect(res.statusCode, res.body).toBe(429);
      expect(errorOf(res).code).toBe('too_many_requests');
      const retryAfter = res.headers['retry-after'];
      expect(retryAfter).toMatch(/^[1-9][0-9]*$/);
      // The window is 15 minutes and started moments ago.
      expect(Number(retryAfter)).toBeGreaterThan(800);
      expect(Number(retryAfter)).toBeLessThanOrEqual(900);
      expect(errorOf(res).detail).toContain(`${retryAfter} seconds`);
      expect(res.headers['set-cookie']).toBeUndefined();
    };

    it('blocks an account after 5 failures, even with the right password, from any address', async () => {
      const [victim, bystander] = [await passwordUser(), await passwordUser()];
      const address = freshAddress();
      for (let i = 1; i <= 5; i++) {
        const res = await login(victim.email, `wrong ${i}`, address);
        expect(res.statusCode, `attempt ${i}`).toBe(401);
        expect(errorOf(res).code).toBe('invalid_credentials');
      }

      expectBlocked(await login(victim.email, PASSWORD, address));
      expectBlocked(await login(victim.email, 'still wrong', address));
      // The limit is per account: a new address or another spelling of the email does not help.
      expectBlocked(await login(victim.email, PASSWORD, freshAddress()));
      expectBlocked(await login(` ${victim.email.toUpperCase()} `, PASSWORD, freshAddress()));
      expect(await sessionsOf(victim.id)).toHaveLength(0);

      // Another account is unaffected, from another address and from the same one (5 failures < 20).
      await signIn(bystander.email, PASSWORD, freshAddress());
      await signIn(bystander.email, PASSWORD, address);
    });

    it('forgets earlier failures of an account once it signs in', async () => {
      const user = await passwordUser();
      const address = freshAddress();
      for (let round = 0; round < 2; round++) {
        for (let i = 0; i < 4; i++) expect((await login(user.email, 'wrong', address)).statusCode).toBe(401);
        // Without the reset, this would be the 9th attempt after 8 failures.
        await signIn(user.email, PASSWORD, address);
      }
    });

    it('blocks an address after 20 failures across different accounts, and only that address', async () => {
      const address = freshAddress();
      // Concurrently to save time: each account fails once, and no attempt can see 20 failures but its own.
      const failures = await Promise.all(
        Array.from({ length: 20 }, (_, i) => login(`probe-${i}-${randomUUID()}@example.test`, 'guess', address)),
      );
      for (const res of failures) {
        expect(res.statusCode).toBe(401);
        expect(errorOf(res).code).toBe('invalid_credentials');
      }

      const before = (await sessionsOf(alice.id)).length;
      expectBlocked(await login(alice.email, PASSWORD, address));
      expectBlocked(await login(`probe-21-${randomUUID()}@example.test`, 'guess', address));
      // The client address is the socket's; a forwarded-for header does not move it.
      expectBlocked(
        await inject({
          method: 'POST',
          url: '/auth/login',
          headers: { 'x-forwarded-for': freshAddress() },
          payload: { email: alice.email, password: PASSWORD },
          remoteAddress: address,
        }),
      );
      expect(await sessionsOf(alice.id)).toHaveLength(before);

      // The same account from another address is fine.
      await signIn(alice.email, PASSWORD, freshAddress());
    });
  });

  describe('the session cookie on /core', () => {
    let session: Session;
    beforeAll(async () => {
      session = await signIn(alice.email);
    });

    it('authenticates a read with the cookie alone', async () => {
      const res = await me(session.cookie);
      expect(res.statusCode).toBe(200);
      expect(res.headers['content-type']).toMatch(/^application\/vnd\.api\+json/);
      expect(res.json().data).toMatchObject({ type: 'user', id: alice.id });
    });

    it('GET /auth/session answers the user and the same CSRF token, never cached', async () => {
      const res = await inject({ method: 'GET', url: '/auth/session', headers: session.cookie });
      expect(res.statusCode).toBe(200);
      expect(res.headers['cache-control']).toBe('no-store');
      expect(res.headers['set-cookie']).toBeUndefined();
      const body = res.json();
      expect(body.data).toMatchObject({ type: 'user', id: alice.id, attributes: { email: alice.email } });
      expect(body.meta.csrf_token).toBe(session.csrf);
    });

    it('GET /auth/session without a session answers 401', async () => {
      for (const headers of [{}, cookieHeader(''), cookieHeader(randomBytes(32).toString('hex'))]) {
        const res = await inject({ method: 'GET', url: '/auth/session', headers });
        expect(res.statusCode).toBe(401);
        expect(errorOf(res).code).toBe('authentication_required');
        expect(res.headers['www-authenticate']).toBe(CHALLENGE);
      }
    });

    it('refuses a state-changing request without the CSRF header with 403, creating nothing', async () => {
      const before = await tokenCount(alice.id);
      const res = await createToken(session.cookie);
      expect(res.statusCode).toBe(403);
      expect(errorOf(res).code).toBe('csrf_token_invalid');
      expect(res.headers['www-authenticate']).toContain(CHALLENGE);
      expect(await tokenCount(alice.id)).toBe(before);
    });

    it('refuses a wrong CSRF header with 403, creating nothing', async () => {
      const other = await signIn(alice.email);
      const before = await tokenCount(alice.id);
      const wrong = [
        ['a random value', randomBytes(32).toString('hex')],
        ['the token of another session of the same user', other.csrf],
        ['the session secret itself', session.secret],
        ['a truncated token', session.csrf.slice(0, -1)],
        ['the token in upper case', session.csrf.toUpperCase()],
        ['an empty value', ''],
      ];
      for (const [name, value] of wrong) {
        const res = await createToken({ ...session.cookie, [CSRF]: value ?? '' });
        expect(res.statusCode, name).toBe(403);
        expect(errorOf(res).code, name).toBe('csrf_token_invalid');
      }
      expect(await tokenCount(alice.id)).toBe(before);
    });

    it('creates a token with the right CSRF header: 201, shown once, and the token works', async () => {
      const before = await tokenCount(alice.id);
      const res = await createToken(session.write, 'made in the browser');
      expect(res.statusCode, res.body).toBe(201);
      expect(res.headers['cache-control']).toBe('no-store');
      const body = res.json();
      expect(body.data.relationships.user.data).toEqual({ type: 'user', id: alice.id });
      expect(await tokenCount(alice.id)).toBe(before + 1);
      expect((await me(t.bearer(body.data.attributes.token))).json().data.id).toBe(alice.id);
    });

    it('needs the CSRF header to revoke a token too', async () => {
      const token = await t.createToken(alice.id, 'to revoke from the browser');
      const { items } = await t.services.tokens.listOf(alice.id, { number: 1, size: 100 });
      const target = items.find((i) => i.label === 'to revoke from the browser');
      const url = `/core/users/me/user_app_tokens/${target?.id}`;

      const denied = await inject({ method: 'DELETE', url, headers: session.cookie });
      expect(denied.statusCode).toBe(403);
      expect(errorOf(denied).code).toBe('csrf_token_invalid');
      expect((await me(t.bearer(token))).statusCode).toBe(200);

      const ok = await inject({ method: 'DELETE', url, headers: session.write });
      expect(ok.statusCode).toBe(204);
      expect((await me(t.bearer(token))).statusCode).toBe(401);
    });

    it('prefers a bearer token over the cookie when both are sent', async () => {
      const { user: bob, token } = await t.userWithToken();
      const both = { ...session.cookie, ...t.bearer(token) };

      const read = await me(both);
      expect(read.statusCode).toBe(200);
      expect(read.json().data.id).toBe(bob.id);

      // A bearer request needs no CSRF header, and acts as the token's user only.
      const [aliceBefore, bobBefore] = [await tokenCount(alice.id), await tokenCount(bob.id)];
      const write = await createToken(both, 'bearer wins');
      expect(write.statusCode, write.body).toBe(201);
      expect(write.json().data.relationships.user.data.id).toBe(bob.id);
      expect(await tokenCount(bob.id)).toBe(bobBefore + 1);
      expect(await tokenCount(alice.id)).toBe(aliceBefore);
    });

    it('does not fall back to the cookie when the bearer token is bad', async () => {
      const res = await me({ ...session.cookie, ...t.bearer(randomBytes(24).toString('hex')) });
      expect(res.statusCode).toBe(401);
      expect(errorOf(res).code).toBe('invalid_token');
    });
  });

  describe('POST /auth/logout', () => {
    it('needs the CSRF header: 403 without it, and the session stays valid', async () => {
      const session = await signIn(alice.email);
      const other = await signIn(alice.email);
      for (const headers of [session.cookie, { ...session.cookie, [CSRF]: other.csrf }]) {
        const res = await inject({ method: 'POST', url: '/auth/logout', headers });
        expect(res.statusCode).toBe(403);
        expect(errorOf(res).code).toBe('csrf_token_invalid');
        expect(res.headers['set-cookie']).toBeUndefined();
      }
      expect((await me(session.cookie)).statusCode).toBe(200);
      expect((await sessionsOf(alice.id)).some((r) => r.secret_hash === sha256(session.secret))).toBe(true);
    });

    it('ends the session with the CSRF header: 204, cookie cleared, old cookie refused; other sessions live on', async () => {
      const session = await signIn(alice.email);
      const other = await signIn(alice.email);

      const res = await inject({ method: 'POST', url: '/auth/logout', headers: session.write });
      expect(res.statusCode).toBe(204);
      expect(res.body).toBe('');
      const { raw, parsed } = sessionCookie(res);
      expect(parsed.value).toBe('');
      expect(parsed.path).toBe('/');
      expect(parsed.httpOnly).toBe(true);
      expect(parsed.sameSite).toBe('Lax');
      const expired = parsed.maxAge === 0 || (parsed.expires !== undefined && parsed.expires.getTime() <= Date.now());
      expect(expired, raw).toBe(true);

      const after = await me(session.cookie);
      expect(after.statusCode).toBe(401);
      expect(errorOf(after).code).toBe('authentication_required');
      expect((await inject({ method: 'GET', url: '/auth/session', headers: session.cookie })).statusCode).toBe(401);
      expect((await sessionsOf(alice.id)).some((r) => r.secret_hash === sha256(session.secret))).toBe(false);

      expect((await me(other.cookie)).statusCode).toBe(200);
    });

    it('answers 204 when there is nothing to end', async () => {
      const session = await signIn(alice.email);
      await inject({ method: 'POST', url: '/auth/logout', headers: session.write });
      const again = await inject({ method: 'POST', url: '/auth/logout', headers: session.write });
      expect(again.statusCode).toBe(204);
      const none = await inject({ method: 'POST', url: '/auth/logout' });
      expect(none.statusCode).toBe(204);
      expect(sessionCookie(none).parsed.value).toBe('');
    });
  });

  describe('archiving a user', () => {
    it('ends its web sessions at once; it cannot sign in until un-archived, and old cookies stay dead', async () => {
      const { token: adminToken } = await t.userWithToken(['global_user_admin', 'developer']);
      const carol = await passwordUser();
      const session = await signIn(carol.email);
      expect((await me(session.cookie)).statusCode).toBe(200);

      const archive = await inject({
        method: 'PATCH',
        url: `/core/users/${carol.id}/archive`,
        headers: t.bearer(adminToken),
      });
      expect(archive.statusCode, archive.body).toBe(200);
      expect(archive.json().data.attributes.archived_at).not.toBeNull();

      const after = await me(session.cookie);
      expect(after.statusCode).toBe(401);
      expect(errorOf(after).code).toBe('authentication_required');
      expect(after.headers['www-authenticate']).toBe(CHALLENGE);
      expect((await createToken(session.write)).statusCode).toBe(401);
      expect(await sessionsOf(carol.id)).toHaveLength(0);

      const again = await login(carol.email, PASSWORD);
      expect(again.statusCode).toBe(401);
      expect(errorOf(again).code).toBe('invalid_credentials');
      expect(again.headers['set-cookie']).toBeUndefined();
      expect(await sessionsOf(carol.id)).toHaveLength(0);

      const unarchive = await inject({
        method: 'PATCH',
        url: `/core/users/${carol.id}/unarchive`,
        headers: t.bearer(adminToken),
      });
      expect(unarchive.statusCode).toBe(200);
      expect((await me(session.cookie)).statusCode).toBe(401);
      const fresh = await signIn(carol.email);
      expect((await me(fresh.cookie)).json().data.id).toBe(carol.id);

      // Even a session row that somehow survived archiving does not let an archived user in.
      await t.db
        .updateTable('users')
        .set({ archived_at: t.clock.now().toISOString() })
        .where('id', '=', carol.id)
        .execute();
      expect(await sessionsOf(carol.id)).toHaveLength(1);
      expect((await me(fresh.cookie)).statusCode).toBe(401);
    });
  });

  describe('cookies that are not a live session', () => {
    it.each([
      ['a garbage value', 'garbage'],
      ['a random 64-hex value', randomBytes(32).toString('hex')],
      ['broken percent-encoding', '%E0%A4%A'],
      ['a very long value', 'a'.repeat(3000)],
    ])('%s → 401 authentication_required with the Bearer challenge', async (_name, value) => {
      for (const method of ['GET', 'POST'] as const) {
        const res =
          method === 'GET' ? await me(cookieHeader(value)) : await createToken({ ...cookieHeader(value), [CSRF]: 'x' });
        expect(res.statusCode, method).toBe(401);
        expect(errorOf(res).code).toBe('authentication_required');
        expect(res.headers['www-authenticate']).toBe(CHALLENGE);
      }
    });

    it('refuses the stored hash and the CSRF token as cookie values', async () => {
      const session = await signIn(alice.email);
      for (const value of [sha256(session.secret), session.csrf]) {
        const res = await me(cookieHeader(value));
        expect(res.statusCode).toBe(401);
        expect(errorOf(res).code).toBe('authentication_required');
      }
      expect((await me(session.cookie)).statusCode).toBe(200);
    });

    it('ignores an empty session cookie and cookies of other names', async () => {
      for (const cookie of [`${COOKIE}=`, 'other=1', `session=${randomBytes(32).toString('hex')}`]) {
        const res = await me({ cookie });
        expect(res.statusCode, cookie).toBe(401);
        expect(errorOf(res).code).toBe('authentication_required');
        expect(res.headers['www-authenticate']).toBe(CHALLENGE);
      }
    });

    // Moves the shared clock forward, so it runs last in this file.
    it('refuses an expired session: the TTL is 3600 seconds from sign-in and use does not extend it', async () => {
      const session = await signIn(alice.email);
      t.clock.advance(3599);
      expect((await me(session.cookie)).statusCode).toBe(200);
      t.clock.advance(2);
      const res = await me(session.cookie);
      expect(res.statusCode).toBe(401);
      expect(errorOf(res).code).toBe('authentication_required');
      expect(res.headers['www-authenticate']).toBe(CHALLENGE);
      expect((await inject({ method: 'GET', url: '/auth/session', headers: session.cookie })).statusCode).toBe(401);
      // A new sign-in works at the new time.
      expect((await me((await signIn(alice.email)).cookie)).statusCode).toBe(200);
    });
  });
});

describe.each(DIALECTS)('expired sessions (%s)', (dialect) => {
  const t = useTestApp(dialect);

  it('are deleted when anyone signs in after they ended', async () => {
    const password = 'a password that is long';
    const user = await t.createUser(['developer'], { password });
    const login = () =>
      t.inject({
        method: 'POST',
        url: '/auth/login',
        payload: { email: user.email, password },
        remoteAddress: '10.9.8.7',
      });
    expect((await login()).statusCode).toBe(200);
    const sessions = () => t.db.selectFrom('sessions').select('id').where('user_id', '=', user.id).execute();
    const [first] = await sessions();
    t.clock.advance(3601);
    expect((await login()).statusCode).toBe(200);
    const after = await sessions();
    expect(after).toHaveLength(1);
    expect(after[0]?.id).not.toBe(first?.id);
  });
});
