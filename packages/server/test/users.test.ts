import { randomBytes, randomUUID } from 'node:crypto';
import type { InjectOptions, LightMyRequestResponse } from 'fastify';
import { describe, expect, it } from 'vitest';
import { DIALECTS, errorOf, jsonApi, useTestApp } from './harness.js';

const INSUFFICIENT_SCOPE = 'Bearer realm="gatehouse", error="insufficient_scope"';
const PASSWORD = 'correct horse battery staple';

type Payload = InjectOptions['payload'];

/** A marker no other test's data contains, so searches have exact answers. */
const tag = () => `q${randomBytes(5).toString('hex')}`;

describe.each(DIALECTS)('users API (%s)', (dialect) => {
  const t = useTestApp(dialect);

  /** Every users-API answer is checked for a password hash, whatever the test asserts besides. */
  async function call(options: InjectOptions): Promise<LightMyRequestResponse> {
    const res = await t.inject(options);
    expect(res.body).not.toContain('password_hash');
    expect(res.body).not.toMatch(/scrypt\$/);
    return res;
  }
  const get = (url: string, token: string) => call({ method: 'GET', url, headers: t.bearer(token) });
  const patch = (url: string, token: string, payload?: Payload) =>
    call({ method: 'PATCH', url, headers: t.bearer(token), ...(payload === undefined ? {} : { payload }) });
  const post = (url: string, token: string, payload: Payload) =>
    call({ method: 'POST', url, headers: t.bearer(token), payload });

  const userRow = (id: string) => t.db.selectFrom('users').selectAll().where('id', '=', id).executeTakeFirstOrThrow();
  const countUsers = async () => (await t.db.selectFrom('users').select('id').execute()).length;
  const tokenRowsOf = (id: string) =>
    t.db.selectFrom('user_app_tokens').select('id').where('user_id', '=', id).execute();
  const login = (email: string, password: string) =>
    t.inject({ method: 'POST', url: '/auth/login', payload: { email, password }, remoteAddress: '10.20.0.1' });
  const expectForbidden = (res: LightMyRequestResponse) => {
    expect(res.statusCode).toBe(403);
    expect(errorOf(res).code).toBe('insufficient_scope');
    expect(res.headers['www-authenticate']).toBe(INSUFFICIENT_SCOPE);
  };
  const expectNotFound = (res: LightMyRequestResponse) => {
    expect(res.statusCode).toBe(404);
    expect(errorOf(res).code).toBe('not_found');
  };

  describe('GET /core/users/me', () => {
    it('answers the caller as a JSON:API user resource with its roles and no password hash', async () => {
      const user = await t.createUser(['global_user_admin', 'developer'], { password: PASSWORD });
      const token = await t.createToken(user.id);
      const res = await get('/core/users/me', token);
      expect(res.statusCode).toBe(200);
      expect(res.headers['content-type']).toMatch(/^application\/vnd\.api\+json/);
      const { data } = res.json();
      expect(data).toEqual({
        type: 'user',
        id: user.id,
        attributes: {
          email: user.email,
          first_name: 'Test',
          last_name: 'User',
          roles: expect.any(Array),
          created_at: user.created_at,
          updated_at: user.updated_at,
          archived_at: null,
          rate_limit_per_minute: null,
        },
        links: { self: `/core/users/${user.id}` },
      });
      expect([...data.attributes.roles].sort()).toEqual(['developer', 'global_user_admin']);

      const row = await userRow(user.id);
      expect(row.password_hash).toMatch(/^scrypt\$/);
      expect(res.body).not.toContain(row.password_hash);
      expect(res.body).not.toContain('password');
    });

    it('is the same resource as GET /core/users/{own id}', async () => {
      const { user, token } = await t.userWithToken();
      const me = await get('/core/users/me', token);
      const byId = await get(`/core/users/${user.id}`, token);
      expect(byId.statusCode).toBe(200);
      expect(byId.json()).toEqual(me.json());
    });

    it('answers 401 without credentials', async () => {
      const res = await call({ method: 'GET', url: '/core/users/me' });
      expect(res.statusCode).toBe(401);
      expect(errorOf(res).code).toBe('authentication_required');
      expect(res.headers['www-authenticate']).toBe('Bearer realm="gatehouse"');
    });
  });

  describe('GET /core/users', () => {
    it.each([['global_user_admin'], ['global_admin']])('lets a %s list users', async (role) => {
      const { token } = await t.userWithToken([role, 'developer']);
      const { user: other } = await t.userWithToken();
      const res = await get('/core/users?page[size]=100', token);
      expect(res.statusCode).toBe(200);
      const body = res.json();
      expect(body.data.every((u: { type: string }) => u.type === 'user')).toBe(true);
      expect(body.data.map((u: { id: string }) => u.id)).toContain(other.id);
      expect(body.meta.page).toEqual({
        number: 1,
        size: 100,
        total_items: await countUsers(),
        total_pages: 1,
      });
    });

    it('answers 403 insufficient_scope with a Bearer challenge to a plain developer', async () => {
      const { token } = await t.userWithToken(['developer']);
      const res = await get('/core/users', token);
      expectForbidden(res);
      expect(res.body).not.toContain('"data"');
    });

    it('searches email, first and last name, case-insensitively', async () => {
      const { token } = await t.userWithToken(['global_user_admin', 'developer']);
      const mark = tag();
      const byEmail = await t.services.users.createUser({ email: `Alice.${mark}@Example.Test`, roles: ['developer'] });
      const byFirst = await t.services.users.createUser({
        email: `b-${randomUUID()}@example.test`,
        first_name: `Bo${mark.toUpperCase()}b`,
      });
      const byLast = await t.services.users.createUser({
        email: `c-${randomUUID()}@example.test`,
        last_name: `Mc${mark}`,
      });
      await t.services.users.createUser({ email: `d-${randomUUID()}@example.test`, first_name: 'Unrelated' });

      const search = async (q: string) => {
        const res = await get(`/core/users?filter[search]=${encodeURIComponent(q)}`, token);
        expect(res.statusCode, q).toBe(200);
        return res.json();
      };

      const all = await search(mark.toUpperCase());
      expect(all.data.map((u: { id: string }) => u.id).sort()).toEqual([byEmail.id, byFirst.id, byLast.id].sort());
      expect(all.meta.page.total_items).toBe(3);

      const email = await search(`alice.${mark}@EXAMPLE`);
      expect(email.data.map((u: { id: string }) => u.id)).toEqual([byEmail.id]);
      expect(email.data[0].attributes.email).toBe(`Alice.${mark}@Example.Test`);

      expect((await search(`bo${mark}B`)).data.map((u: { id: string }) => u.id)).toEqual([byFirst.id]);
      expect((await search(`MC${mark}`)).data.map((u: { id: string }) => u.id)).toEqual([byLast.id]);
      expect((await search(`${mark}-nobody`)).data).toEqual([]);
    });

    it('finds names and emails beyond ASCII, in any letter case', async () => {
      const { token } = await t.userWithToken(['global_user_admin', 'developer']);
      const mark = tag();
      const named = await t.services.users.createUser({
        email: `${randomUUID()}@example.test`,
        first_name: `Örjan${mark}`,
        last_name: `ÉMILIENNE${mark}`,
      });
      const mailed = await t.services.users.createUser({ email: `ÅSA.${mark}@EXAMPLE.TEST` });
      const cases: Array<[string, string]> = [
        [`Örjan${mark}`, named.id],
        [`örjan${mark}`, named.id],
        [`ÖRJAN${mark}`, named.id],
        [`émilienne${mark}`, named.id],
        [`Émilienne${mark}`, named.id],
        [`åsa.${mark}`, mailed.id],
        [`ÅSA.${mark}`, mailed.id],
      ];
      for (const [q, id] of cases) {
        const res = await get(`/core/users?filter[search]=${encodeURIComponent(q)}`, token);
        expect(res.statusCode, q).toBe(200);
        expect(
          res.json().data.map((u: { id: string }) => u.id),
          q,
        ).toEqual([id]);
      }
    });

    it('treats %, _ and \\ in the search literally', async () => {
      const { token } = await t.userWithToken(['global_admin', 'developer']);
      const mark = tag();
      const names = ['a%b', 'a_b', 'axb', 'a\\b', "o'b"];
      const ids = new Map<string, string>();
      for (const name of names) {
        const user = await t.services.users.createUser({
          email: `${randomUUID()}@example.test`,
          first_name: `${name}-${mark}`,
        });
        ids.set(name, user.id);
      }
      for (const name of names) {
        const res = await get(`/core/users?filter[search]=${encodeURIComponent(`${name}-${mark}`)}`, token);
        expect(res.statusCode, name).toBe(200);
        expect(
          res.json().data.map((u: { id: string }) => u.id),
          name,
        ).toEqual([ids.get(name)]);
      }
      // A bare wildcard finds only names that really contain it.
      const percent = await get(`/core/users?filter[search]=${encodeURIComponent('%')}`, token);
      expect(percent.json().data.map((u: { id: string }) => u.id)).toEqual([ids.get('a%b')]);
      const underscore = await get(`/core/users?filter[search]=${encodeURIComponent(`_b-${mark}`)}`, token);
      expect(underscore.json().data.map((u: { id: string }) => u.id)).toEqual([ids.get('a_b')]);
    });

    it('filters by filter[archived]', async () => {
      const { token } = await t.userWithToken(['global_user_admin', 'developer']);
      const mark = tag();
      const active = await t.services.users.createUser({ email: `active-${mark}@example.test` });
      const archived = await t.services.users.createUser({ email: `archived-${mark}@example.test` });
      await t.services.users.archiveUser(archived.id);

      const ids = async (query: string) => {
        const res = await get(`/core/users?filter[search]=${mark}${query}`, token);
        expect(res.statusCode, query).toBe(200);
        return res.json().data.map((u: { id: string; attributes: { archived_at: string | null } }) => u.id);
      };
      expect((await ids('')).sort()).toEqual([active.id, archived.id].sort());
      expect(await ids('&filter[archived]=true')).toEqual([archived.id]);
      expect(await ids('&filter[archived]=false')).toEqual([active.id]);

      const res = await get(`/core/users?filter[search]=${mark}&filter[archived]=true`, token);
      expect(res.json().data[0].attributes.archived_at).toBe(t.clock.now().toISOString());

      for (const bad of ['yes', '1', 'TRUE', '']) {
        const invalid = await get(`/core/users?filter[archived]=${bad}`, token);
        expect(invalid.statusCode, bad).toBe(400);
        expect(errorOf(invalid).code).toBe('invalid_request');
      }
    });

    it('pages with meta and links that keep the filters, ordered by email', async () => {
      const { token } = await t.userWithToken(['global_user_admin', 'developer']);
      const mark = tag();
      const emails = [5, 3, 1, 4, 2].map((i) => `p${i}-${mark}@example.test`);
      for (const email of emails) await t.services.users.createUser({ email });

      const res = await get(`/core/users?filter[search]=${mark}&page[number]=2&page[size]=2`, token);
      expect(res.statusCode).toBe(200);
      const body = res.json();
      expect(body.data.map((u: { attributes: { email: string } }) => u.attributes.email)).toEqual([
        `p3-${mark}@example.test`,
        `p4-${mark}@example.test`,
      ]);
      expect(body.meta.page).toEqual({ number: 2, size: 2, total_items: 5, total_pages: 3 });

      const query = (link: string | null) => {
        expect(link).toMatch(/^\/core\/users\?/);
        const params = new URL(link ?? '', 'http://x').searchParams;
        return {
          search: params.get('filter[search]'),
          number: params.get('page[number]'),
          size: params.get('page[size]'),
        };
      };
      expect(query(body.links.self)).toEqual({ search: mark, number: '2', size: '2' });
      expect(query(body.links.first)).toEqual({ search: mark, number: '1', size: '2' });
      expect(query(body.links.last)).toEqual({ search: mark, number: '3', size: '2' });
      expect(query(body.links.prev)).toEqual({ search: mark, number: '1', size: '2' });
      expect(query(body.links.next)).toEqual({ search: mark, number: '3', size: '2' });

      const next = await get(body.links.next, token);
      expect(next.statusCode).toBe(200);
      expect(next.json().data.map((u: { attributes: { email: string } }) => u.attributes.email)).toEqual([
        `p5-${mark}@example.test`,
      ]);
      expect(next.json().links.next).toBeNull();
      expect(next.json().links.prev).not.toBeNull();

      const first = await get(`/core/users?filter[search]=${mark}`, token);
      expect(first.json().meta.page).toEqual({ number: 1, size: 20, total_items: 5, total_pages: 1 });
      expect(first.json().links.prev).toBeNull();
      expect(first.json().links.next).toBeNull();
    });

    it('keeps filter[archived] in the links', async () => {
      const { token } = await t.userWithToken(['global_user_admin', 'developer']);
      await t.createUser();
      const res = await get('/core/users?filter[archived]=false&page[size]=1', token);
      expect(res.statusCode).toBe(200);
      for (const link of [res.json().links.self, res.json().links.next]) {
        expect(new URL(link, 'http://x').searchParams.get('filter[archived]')).toBe('false');
      }
    });

    it('rejects bad page and search parameters with 400', async () => {
      const { token } = await t.userWithToken(['global_user_admin', 'developer']);
      for (const q of ['page[number]=0', 'page[size]=-1', 'page[size]=abc', `filter[search]=${'x'.repeat(201)}`]) {
        const res = await get(`/core/users?${q}`, token);
        expect(res.statusCode, q).toBe(400);
        expect(errorOf(res).code).toBe('invalid_request');
      }
    });
  });

  describe('GET /core/users/{id}', () => {
    it.each([['global_user_admin'], ['global_admin']])('lets a %s read another user', async (role) => {
      const { token } = await t.userWithToken([role, 'developer']);
      const other = await t.createUser(['developer'], { password: PASSWORD });
      const res = await get(`/core/users/${other.id}`, token);
      expect(res.statusCode).toBe(200);
      expect(res.json().data).toMatchObject({ type: 'user', id: other.id, attributes: { email: other.email } });
    });

    it('answers 404 for another user to a non-admin, exactly as for a missing user', async () => {
      const { token } = await t.userWithToken();
      const other = await t.createUser();
      const hidden = await get(`/core/users/${other.id}`, token);
      expectNotFound(hidden);
      expect(hidden.body).not.toContain(other.email);
      const missing = await get(`/core/users/${randomUUID()}`, token);
      expectNotFound(missing);
      expect(errorOf(hidden).detail).toBe(errorOf(missing).detail);
    });

    it('answers 404 to an admin for a user that does not exist', async () => {
      const { token } = await t.userWithToken(['global_admin', 'developer']);
      expectNotFound(await get(`/core/users/${randomUUID()}`, token));
    });

    it('answers 400 for an over-long id', async () => {
      const { token } = await t.userWithToken(['global_admin', 'developer']);
      const res = await get(`/core/users/${'x'.repeat(65)}`, token);
      expect(res.statusCode).toBe(400);
      expect(errorOf(res).code).toBe('invalid_request');
    });
  });

  describe('POST /core/users', () => {
    it('creates a user: 201, Location, and the stored row', async () => {
      const { token } = await t.userWithToken(['global_user_admin', 'developer']);
      const email = `New.Person-${tag()}@Example.Test`;
      const res = await post(
        '/core/users',
        token,
        jsonApi('user', { email, first_name: 'New', last_name: 'Person', roles: ['developer'] }),
      );
      expect(res.statusCode).toBe(201);
      expect(res.headers['content-type']).toMatch(/^application\/vnd\.api\+json/);
      const { data } = res.json();
      expect(data).toMatchObject({
        type: 'user',
        attributes: {
          email,
          first_name: 'New',
          last_name: 'Person',
          roles: ['developer'],
          archived_at: null,
          created_at: t.clock.now().toISOString(),
        },
      });
      expect(res.headers.location).toBe(`/core/users/${data.id}`);

      const again = await get(res.headers.location as string, token);
      expect(again.statusCode).toBe(200);
      expect(again.json().data).toEqual(data);

      const row = await userRow(data.id);
      expect(row.email_normalized).toBe(email.toLowerCase());
      expect(row.password_hash).toBeNull();
    });

    it('defaults roles to none and names to empty', async () => {
      const { token } = await t.userWithToken(['global_user_admin', 'developer']);
      const res = await post('/core/users', token, jsonApi('user', { email: `bare-${tag()}@example.test` }));
      expect(res.statusCode).toBe(201);
      expect(res.json().data.attributes).toMatchObject({ roles: [], first_name: '', last_name: '' });
    });

    it('refuses an email that exists in any letter case with 409 conflict', async () => {
      const { token } = await t.userWithToken(['global_user_admin', 'developer']);
      const existing = await t.services.users.createUser({ email: `Taken-${tag()}@example.test` });
      const before = await countUsers();
      for (const email of [existing.email, existing.email.toUpperCase(), `  ${existing.email.toLowerCase()} `]) {
        const res = await post('/core/users', token, jsonApi('user', { email, first_name: 'Dup' }));
        expect(res.statusCode, email).toBe(409);
        expect(errorOf(res).code).toBe('conflict');
      }
      expect(await countUsers()).toBe(before);
      expect((await userRow(existing.id)).first_name).toBe('');
    });

    const badBodies: Array<[string, Payload, number, string]> = [
      ['no @', jsonApi('user', { email: 'not-an-email' }), 400, 'invalid_request'],
      ['two @', jsonApi('user', { email: 'a@b@example.test' }), 400, 'invalid_request'],
      ['a space', jsonApi('user', { email: 'a b@example.test' }), 400, 'invalid_request'],
      ['empty email', jsonApi('user', { email: '' }), 400, 'invalid_request'],
      ['blank email', jsonApi('user', { email: '     ' }), 400, 'invalid_request'],
      ['email of the wrong type', jsonApi('user', { email: 42 }), 400, 'invalid_request'],
      ['over-long email', jsonApi('user', { email: `${'x'.repeat(320)}@example.test` }), 400, 'invalid_request'],
      ['missing email', jsonApi('user', { first_name: 'No' }), 400, 'invalid_request'],
      ['unknown role', jsonApi('user', { email: 'EMAIL', roles: ['superuser'] }), 400, 'invalid_request'],
      ['workspace role', jsonApi('user', { email: 'EMAIL', roles: ['workspace_manager'] }), 400, 'invalid_request'],
      ['roles not an array', jsonApi('user', { email: 'EMAIL', roles: 'developer' }), 400, 'invalid_request'],
      ['short password', jsonApi('user', { email: 'EMAIL', password: 'short' }), 400, 'invalid_request'],
      ['unknown attribute', jsonApi('user', { email: 'EMAIL', archived_at: null }), 400, 'invalid_request'],
      ['password_hash attribute', jsonApi('user', { email: 'EMAIL', password_hash: 'x' }), 400, 'invalid_request'],
      ['over-long name', jsonApi('user', { email: 'EMAIL', first_name: 'x'.repeat(101) }), 400, 'invalid_request'],
      ['wrong JSON:API type', jsonApi('user_app_token', { email: 'EMAIL' }), 409, 'type_mismatch'],
      ['no data member', { email: 'EMAIL' }, 400, 'invalid_request'],
    ];

    it.each(badBodies)('%s → %s %s, nothing stored', async (_name, body, status, code) => {
      const { token } = await t.userWithToken(['global_admin', 'developer']);
      const email = `bad-${tag()}@example.test`;
      const payload = JSON.parse(JSON.stringify(body).replaceAll('EMAIL', email));
      const before = await countUsers();
      const res = await post('/core/users', token, payload);
      expect(res.statusCode).toBe(status);
      expect(errorOf(res).code).toBe(code);
      expect(await countUsers()).toBe(before);
      expect(await t.services.users.findByEmail(email)).toBeUndefined();
    });

    it('answers 403 to a plain developer and stores nothing', async () => {
      const { token } = await t.userWithToken(['developer']);
      const email = `by-dev-${tag()}@example.test`;
      expectForbidden(await post('/core/users', token, jsonApi('user', { email })));
      expect(await t.services.users.findByEmail(email)).toBeUndefined();
    });

    it('does not let a global_user_admin grant global_admin, but a global_admin may', async () => {
      const { token: userAdmin } = await t.userWithToken(['global_user_admin', 'developer']);
      const email = `would-be-admin-${tag()}@example.test`;
      expectForbidden(await post('/core/users', userAdmin, jsonApi('user', { email, roles: ['global_admin'] })));
      expect(await t.services.users.findByEmail(email)).toBeUndefined();

      const { token: admin } = await t.userWithToken(['global_admin', 'developer']);
      const res = await post('/core/users', admin, jsonApi('user', { email, roles: ['global_admin', 'developer'] }));
      expect(res.statusCode).toBe(201);
      expect([...res.json().data.attributes.roles].sort()).toEqual(['developer', 'global_admin']);
    });

    it('lets a user created with a password sign in, and one created without cannot', async () => {
      const { token } = await t.userWithToken(['global_user_admin', 'developer']);
      const withPassword = `with-pw-${tag()}@example.test`;
      const withoutPassword = `without-pw-${tag()}@example.test`;
      const a = await post('/core/users', token, jsonApi('user', { email: withPassword, password: PASSWORD }));
      expect(a.statusCode).toBe(201);
      expect(a.body).not.toContain(PASSWORD);
      const b = await post('/core/users', token, jsonApi('user', { email: withoutPassword }));
      expect(b.statusCode).toBe(201);

      const row = await userRow(a.json().data.id);
      expect(row.password_hash).not.toBeNull();
      expect(row.password_hash).not.toContain(PASSWORD);

      expect((await login(withPassword, PASSWORD)).statusCode).toBe(200);
      for (const password of [PASSWORD, '', 'null']) {
        const res = await login(withoutPassword, password);
        expect(res.statusCode, JSON.stringify(password)).toBeGreaterThanOrEqual(400);
        expect(res.statusCode).toBeLessThan(500);
        expect(res.headers['set-cookie']).toBeUndefined();
      }
      const res = await login(withoutPassword, PASSWORD);
      expect(res.statusCode).toBe(401);
      expect(errorOf(res).code).toBe('invalid_credentials');
    });
  });

  describe('PATCH /core/users/{id}', () => {
    it('lets anyone change their own names, via me or their id', async () => {
      const { user, token } = await t.userWithToken(['developer']);
      t.clock.advance(5);
      const res = await patch('/core/users/me', token, jsonApi('user', { first_name: 'Ada', last_name: 'Lovelace' }));
      expect(res.statusCode).toBe(200);
      expect(res.json().data).toMatchObject({
        id: user.id,
        attributes: {
          first_name: 'Ada',
          last_name: 'Lovelace',
          roles: ['developer'],
          updated_at: t.clock.now().toISOString(),
        },
      });
      expect(await userRow(user.id)).toMatchObject({ first_name: 'Ada', last_name: 'Lovelace' });

      const byId = await patch(`/core/users/${user.id}`, token, jsonApi('user', { last_name: 'King' }));
      expect(byId.statusCode).toBe(200);
      expect(await userRow(user.id)).toMatchObject({ first_name: 'Ada', last_name: 'King' });
    });

    it('does not let a plain developer change their own roles', async () => {
      const { user, token } = await t.userWithToken(['developer']);
      for (const roles of [['developer', 'global_admin'], ['developer', 'global_user_admin'], []]) {
        expectForbidden(await patch('/core/users/me', token, jsonApi('user', { roles })));
      }
      expectForbidden(
        await patch(
          '/core/users/me',
          token,
          jsonApi('user', { first_name: 'Sneaky', roles: ['developer', 'global_user_admin'] }),
        ),
      );
      const row = await userRow(user.id);
      expect(JSON.parse(row.roles)).toEqual(['developer']);
      expect(row.first_name).toBe('Test');
    });

    it("answers 404 to a plain developer for another user's names and changes nothing", async () => {
      const { token } = await t.userWithToken(['developer']);
      const other = await t.createUser();
      expectNotFound(await patch(`/core/users/${other.id}`, token, jsonApi('user', { first_name: 'Hacked' })));
      expectNotFound(await patch(`/core/users/${other.id}`, token, jsonApi('user', { roles: [] })));
      expect(await userRow(other.id)).toMatchObject({ first_name: 'Test', roles: JSON.stringify(['developer']) });
    });

    it("lets a user admin change another user's names and roles", async () => {
      const { token } = await t.userWithToken(['global_user_admin', 'developer']);
      const other = await t.createUser(['developer']);
      const res = await patch(
        `/core/users/${other.id}`,
        token,
        jsonApi('user', { first_name: 'Grace', roles: ['developer', 'global_user_admin'] }),
      );
      expect(res.statusCode).toBe(200);
      expect(res.json().data.attributes.first_name).toBe('Grace');
      expect([...res.json().data.attributes.roles].sort()).toEqual(['developer', 'global_user_admin']);
      const row = await userRow(other.id);
      expect(row.first_name).toBe('Grace');
      expect(JSON.parse(row.roles).sort()).toEqual(['developer', 'global_user_admin']);
    });

    it("applies a role change on the very next request of the user's token", async () => {
      const { token: admin } = await t.userWithToken(['global_user_admin', 'developer']);
      const { user, token } = await t.userWithToken(['global_user_admin', 'developer']);
      const url = `/core/users/${user.id}`;
      expect((await get('/core/users', token)).statusCode).toBe(200);

      expect((await patch(url, admin, jsonApi('user', { roles: ['developer'] }))).statusCode).toBe(200);
      expectForbidden(await get('/core/users', token));
      expect((await get('/core/users/me', token)).statusCode).toBe(200);

      expect((await patch(url, admin, jsonApi('user', { roles: [] }))).statusCode).toBe(200);
      const denied = await get('/core/users/me', token);
      expectForbidden(denied);
      expect(errorOf(denied).detail).toContain('developer role');

      expect((await patch(url, admin, jsonApi('user', { roles: ['developer'] }))).statusCode).toBe(200);
      const back = await get('/core/users/me', token);
      expect(back.statusCode).toBe(200);
      expect(back.json().data.attributes.roles).toEqual(['developer']);
      expectForbidden(await get('/core/users', token));

      expect((await patch(url, admin, jsonApi('user', { roles: ['developer', 'global_user_admin'] }))).statusCode).toBe(
        200,
      );
      expect((await get('/core/users', token)).statusCode).toBe(200);
    });

    it('does not let a global_user_admin grant, remove or touch global_admin', async () => {
      const { user: self, token } = await t.userWithToken(['global_user_admin', 'developer']);
      const plain = await t.createUser(['developer']);
      const admin = await t.createUser(['global_admin', 'developer']);

      expectForbidden(
        await patch(`/core/users/${plain.id}`, token, jsonApi('user', { roles: ['global_admin', 'developer'] })),
      );
      expectForbidden(await patch('/core/users/me', token, jsonApi('user', { roles: ['global_admin', 'developer'] })));
      expectForbidden(await patch(`/core/users/${admin.id}`, token, jsonApi('user', { roles: ['developer'] })));
      expectForbidden(await patch(`/core/users/${admin.id}`, token, jsonApi('user', { first_name: 'Renamed' })));

      expect(JSON.parse((await userRow(plain.id)).roles)).toEqual(['developer']);
      expect(JSON.parse((await userRow(self.id)).roles).sort()).toEqual(['developer', 'global_user_admin']);
      expect(await userRow(admin.id)).toMatchObject({ first_name: 'Test' });
      expect(JSON.parse((await userRow(admin.id)).roles).sort()).toEqual(['developer', 'global_admin']);
    });

    it('lets a global_admin grant and remove global_admin', async () => {
      const { token } = await t.userWithToken(['global_admin', 'developer']);
      const { user: other, token: otherToken } = await t.userWithToken(['developer']);
      const url = `/core/users/${other.id}`;
      expect((await patch(url, token, jsonApi('user', { roles: ['global_admin', 'developer'] }))).statusCode).toBe(200);
      expect((await get('/core/users', otherToken)).statusCode).toBe(200);
      expect((await patch(url, token, jsonApi('user', { roles: ['developer'] }))).statusCode).toBe(200);
      expectForbidden(await get('/core/users', otherToken));
    });

    it('answers 404 to an admin for a user that does not exist', async () => {
      const { token } = await t.userWithToken(['global_admin', 'developer']);
      expectNotFound(await patch(`/core/users/${randomUUID()}`, token, jsonApi('user', { first_name: 'X' })));
    });

    const badBodies: Array<[string, Payload, number, string]> = [
      ['empty attributes', jsonApi('user', {}), 400, 'invalid_request'],
      ['unknown attribute', jsonApi('user', { email: 'new@example.test' }), 400, 'invalid_request'],
      ['archived_at', jsonApi('user', { archived_at: null }), 400, 'invalid_request'],
      ['unknown role', jsonApi('user', { roles: ['developer', 'root'] }), 400, 'invalid_request'],
      ['roles not an array', jsonApi('user', { roles: 'developer' }), 400, 'invalid_request'],
      ['name of the wrong type', jsonApi('user', { first_name: 7 }), 400, 'invalid_request'],
      ['over-long name', jsonApi('user', { last_name: 'x'.repeat(101) }), 400, 'invalid_request'],
      ['wrong JSON:API type', jsonApi('user_app_token', { first_name: 'X' }), 409, 'type_mismatch'],
      ['no attributes', { data: { type: 'user' } }, 400, 'invalid_request'],
    ];

    it.each(badBodies)('%s → %s %s, nothing changed', async (_name, payload, status, code) => {
      const { token } = await t.userWithToken(['global_admin', 'developer']);
      const other = await t.createUser(['developer']);
      const before = await userRow(other.id);
      t.clock.advance(1);
      const res = await patch(`/core/users/${other.id}`, token, payload);
      expect(res.statusCode).toBe(status);
      expect(errorOf(res).code).toBe(code);
      expect(await userRow(other.id)).toEqual(before);
    });

    it('answers 400 to an empty body and an empty own update', async () => {
      const { user, token } = await t.userWithToken(['developer']);
      const before = await userRow(user.id);
      const empty = await patch('/core/users/me', token, jsonApi('user', {}));
      expect(empty.statusCode).toBe(400);
      expect(errorOf(empty).code).toBe('invalid_request');
      const none = await call({
        method: 'PATCH',
        url: '/core/users/me',
        headers: { ...t.bearer(token), 'content-type': 'application/vnd.api+json' },
        payload: '',
      });
      expect(none.statusCode).toBe(400);
      expect(errorOf(none).code).toBe('invalid_json');
      expect(await userRow(user.id)).toEqual(before);
    });
  });

  describe('PATCH /core/users/{id}/archive', () => {
    it("ends all the user's tokens and sessions on the very next request", async () => {
      const { user: admin, token } = await t.userWithToken(['global_user_admin', 'developer']);
      const user = await t.createUser(['developer'], { password: PASSWORD });
      const tokens = [await t.createToken(user.id, 'ci'), await t.createToken(user.id, 'bot')];
      const bystander = await t.userWithToken(['developer']);
      for (const own of tokens) expect((await get('/core/users/me', own)).statusCode).toBe(200);
      const signIn = await login(user.email, PASSWORD);
      expect(signIn.statusCode).toBe(200);
      const cookie = signIn.cookies.map((c) => `${c.name}=${c.value}`).join('; ');
      expect((await t.inject({ method: 'GET', url: '/auth/session', headers: { cookie } })).statusCode).toBe(200);

      t.clock.advance(10);
      const res = await patch(`/core/users/${user.id}/archive`, token);
      expect(res.statusCode).toBe(200);
      expect(res.json().data).toMatchObject({
        id: user.id,
        attributes: { archived_at: t.clock.now().toISOString(), updated_at: t.clock.now().toISOString() },
      });

      for (const own of tokens) {
        const after = await get('/core/users/me', own);
        expect(after.statusCode).toBe(401);
        expect(errorOf(after).code).toBe('invalid_token');
        expect(after.headers['www-authenticate']).toContain('error="invalid_token"');
      }
      expect(await tokenRowsOf(user.id)).toEqual([]);
      expect(await t.db.selectFrom('sessions').select('id').where('user_id', '=', user.id).execute()).toEqual([]);
      expect((await t.inject({ method: 'GET', url: '/auth/session', headers: { cookie } })).statusCode).toBe(401);
      expect((await login(user.email, PASSWORD)).statusCode).toBe(401);

      // Nobody else is touched.
      expect((await get('/core/users/me', bystander.token)).statusCode).toBe(200);
      expect(await tokenRowsOf(bystander.user.id)).toHaveLength(1);
      expect(await tokenRowsOf(admin.id)).toHaveLength(1);
    });

    it('is idempotent: archiving again keeps the first archived_at', async () => {
      const { token } = await t.userWithToken(['global_admin', 'developer']);
      const user = await t.createUser();
      const first = await patch(`/core/users/${user.id}/archive`, token);
      expect(first.statusCode).toBe(200);
      t.clock.advance(60);
      const second = await patch(`/core/users/${user.id}/archive`, token);
      expect(second.statusCode).toBe(200);
      expect(second.json().data.attributes.archived_at).toBe(first.json().data.attributes.archived_at);
    });

    it('refuses to archive yourself with 409', async () => {
      const { user, token } = await t.userWithToken(['global_admin', 'developer']);
      for (const id of ['me', user.id]) {
        const res = await patch(`/core/users/${id}/archive`, token);
        expect(res.statusCode, id).toBe(409);
        expect(errorOf(res).code).toBe('conflict');
      }
      expect((await userRow(user.id)).archived_at).toBeNull();
      expect((await get('/core/users/me', token)).statusCode).toBe(200);
    });

    it('does not let a plain developer archive anyone', async () => {
      const { user: self, token } = await t.userWithToken(['developer']);
      const { user: other, token: otherToken } = await t.userWithToken(['developer']);
      expectNotFound(await patch(`/core/users/${other.id}/archive`, token));
      expectForbidden(await patch('/core/users/me/archive', token));
      expect((await userRow(other.id)).archived_at).toBeNull();
      expect((await userRow(self.id)).archived_at).toBeNull();
      expect((await get('/core/users/me', otherToken)).statusCode).toBe(200);
      expect((await get('/core/users/me', token)).statusCode).toBe(200);
    });

    it('does not let a global_user_admin archive a global_admin', async () => {
      const { token } = await t.userWithToken(['global_user_admin', 'developer']);
      const { user: admin, token: adminToken } = await t.userWithToken(['global_admin', 'developer']);
      expectForbidden(await patch(`/core/users/${admin.id}/archive`, token));
      expect((await userRow(admin.id)).archived_at).toBeNull();
      expect((await get('/core/users/me', adminToken)).statusCode).toBe(200);
    });

    it('answers 404 for a user that does not exist', async () => {
      const { token } = await t.userWithToken(['global_admin', 'developer']);
      expectNotFound(await patch(`/core/users/${randomUUID()}/archive`, token));
      expectNotFound(await patch(`/core/users/${randomUUID()}/unarchive`, token));
    });
  });

  describe('PATCH /core/users/{id}/unarchive', () => {
    it('makes the user active again; its old tokens stay dead and a new one works', async () => {
      const { token: admin } = await t.userWithToken(['global_user_admin', 'developer']);
      const user = await t.createUser(['developer'], { password: PASSWORD });
      const old = await t.createToken(user.id);
      expect((await patch(`/core/users/${user.id}/archive`, admin)).statusCode).toBe(200);

      t.clock.advance(30);
      const res = await patch(`/core/users/${user.id}/unarchive`, admin);
      expect(res.statusCode).toBe(200);
      expect(res.json().data.attributes).toMatchObject({ archived_at: null, updated_at: t.clock.now().toISOString() });
      expect((await userRow(user.id)).archived_at).toBeNull();

      const stale = await get('/core/users/me', old);
      expect(stale.statusCode).toBe(401);
      expect(errorOf(stale).code).toBe('invalid_token');
      expect(await tokenRowsOf(user.id)).toEqual([]);

      const fresh = await t.createToken(user.id);
      const ok = await get('/core/users/me', fresh);
      expect(ok.statusCode).toBe(200);
      expect(ok.json().data.attributes.archived_at).toBeNull();
      expect((await get('/core/users/me', old)).statusCode).toBe(401);
      expect((await login(user.email, PASSWORD)).statusCode).toBe(200);
    });

    it('leaves an active user as it is', async () => {
      const { token } = await t.userWithToken(['global_admin', 'developer']);
      const { user, token: userToken } = await t.userWithToken();
      const res = await patch(`/core/users/${user.id}/unarchive`, token);
      expect(res.statusCode).toBe(200);
      expect(res.json().data.attributes.archived_at).toBeNull();
      expect((await get('/core/users/me', userToken)).statusCode).toBe(200);
    });

    it('does not let a plain developer unarchive anyone', async () => {
      const { token } = await t.userWithToken(['developer']);
      const other = await t.createUser();
      await t.services.users.archiveUser(other.id);
      const res = await patch(`/core/users/${other.id}/unarchive`, token);
      expectNotFound(res);
      expect((await userRow(other.id)).archived_at).not.toBeNull();
    });
  });
});

describe.each(DIALECTS)('the last global_admin (%s)', (dialect) => {
  const t = useTestApp(dialect);

  it('cannot lose the role while no other active global_admin exists', async () => {
    const { user: admin, token } = await t.userWithToken(['global_admin', 'developer']);
    const demote = () =>
      t.inject({
        method: 'PATCH',
        url: `/core/users/${admin.id}`,
        headers: t.bearer(token),
        payload: jsonApi('user', { roles: ['developer'] }),
      });
    const refused = await demote();
    expect(refused.statusCode).toBe(409);
    expect(errorOf(refused).detail).toContain('last active global_admin');
    expect((await t.services.users.findByEmail(admin.email))?.roles).toContain('global_admin');

    await t.createUser(['global_admin']);
    expect((await demote()).statusCode).toBe(200);
    expect((await t.services.users.findByEmail(admin.email))?.roles).toEqual(['developer']);
  });
});
