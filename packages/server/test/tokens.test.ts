import { describe, expect, it } from 'vitest';
import { DIALECTS, errorOf, jsonApi, useTestApp } from './harness.js';

const create = (label: string) => jsonApi('user_app_token', { label });

describe.each(DIALECTS)('user app tokens (%s)', (dialect) => {
  const t = useTestApp(dialect);

  describe('create', () => {
    it('answers 201 with a 48-hex token, shown once, with Cache-Control: no-store', async () => {
      const { user, token } = await t.userWithToken();
      const res = await t.inject({
        method: 'POST',
        url: '/core/users/me/user_app_tokens',
        headers: t.bearer(token),
        payload: create('deploy job'),
      });
      expect(res.statusCode).toBe(201);
      expect(res.headers['cache-control']).toBe('no-store');
      expect(res.headers['content-type']).toMatch(/^application\/vnd\.api\+json/);
      const body = res.json();
      expect(body.data.type).toBe('user_app_token');
      expect(body.data.attributes.token).toMatch(/^[0-9a-f]{48}$/);
      expect(body.data.attributes.label).toBe('deploy job');
      expect(body.data.attributes.hint).toBe(body.data.attributes.token.slice(-4));
      expect(body.data.attributes.expires_at).toBeNull();
      expect(body.data.relationships.user.data).toEqual({ type: 'user', id: user.id });
      expect(res.headers.location).toBe(`/core/users/${user.id}/user_app_tokens/${body.data.id}`);

      const fresh = await t.inject({
        method: 'GET',
        url: '/core/users/me',
        headers: t.bearer(body.data.attributes.token),
      });
      expect(fresh.statusCode).toBe(200);
    });

    it('never lists the token or its hash', async () => {
      const { token } = await t.userWithToken();
      const res = await t.inject({ method: 'GET', url: '/core/users/me/user_app_tokens', headers: t.bearer(token) });
      expect(res.statusCode).toBe(200);
      expect(res.body).not.toContain(token);
      const row = await t.db.selectFrom('user_app_tokens').select('token_hash').executeTakeFirstOrThrow();
      expect(res.body).not.toContain(row.token_hash);
      const [item] = res.json().data;
      expect(Object.keys(item.attributes).sort()).toEqual(
        ['created_at', 'expires_at', 'hint', 'label', 'last_accessed_at', 'last_accessed_ip'].sort(),
      );
    });

    it('accepts application/json as well as the JSON:API media type', async () => {
      const { token } = await t.userWithToken();
      for (const type of ['application/json', 'application/vnd.api+json']) {
        const res = await t.inject({
          method: 'POST',
          url: '/core/users/me/user_app_tokens',
          headers: { ...t.bearer(token), 'content-type': type },
          payload: JSON.stringify(create(`via ${type}`)),
        });
        expect(res.statusCode).toBe(201);
      }
    });

    it('needs the developer role', async () => {
      const admin = await t.createUser(['global_admin', 'developer']);
      const adminToken = await t.createToken(admin.id);
      await t.services.users.setRoles(admin.id, ['global_admin']);
      const res = await t.inject({
        method: 'POST',
        url: '/core/users/me/user_app_tokens',
        headers: t.bearer(adminToken),
        payload: create('x'),
      });
      expect(res.statusCode).toBe(403);
    });

    it('refuses to create a token for another user, even for an admin', async () => {
      const { token: adminToken } = await t.userWithToken(['global_user_admin', 'developer']);
      const { user: other } = await t.userWithToken();
      const res = await t.inject({
        method: 'POST',
        url: `/core/users/${other.id}/user_app_tokens`,
        headers: t.bearer(adminToken),
        payload: create('for someone else'),
      });
      expect(res.statusCode).toBe(403);
      expect(errorOf(res).code).toBe('insufficient_scope');
      expect(await t.services.tokens.listOf(other.id, { number: 1, size: 100 })).toMatchObject({ total: 1 });
    });

    it("answers 404 for another user's collection to a non-admin", async () => {
      const { token } = await t.userWithToken();
      const { user: other } = await t.userWithToken();
      for (const method of ['GET', 'POST'] as const) {
        const res = await t.inject({
          method,
          url: `/core/users/${other.id}/user_app_tokens`,
          headers: t.bearer(token),
          ...(method === 'POST' ? { payload: create('x') } : {}),
        });
        expect(res.statusCode).toBe(404);
        expect(errorOf(res).code).toBe('not_found');
      }
    });

    it('caps the number of tokens per user with a clear error', async () => {
      const { user, token } = await t.userWithToken();
      for (let i = 1; i < 100; i++) await t.createToken(user.id, `bulk ${i}`);
      const res = await t.inject({
        method: 'POST',
        url: '/core/users/me/user_app_tokens',
        headers: t.bearer(token),
        payload: create('one too many'),
      });
      expect(res.statusCode).toBe(409);
      expect(errorOf(res)).toMatchObject({ code: 'token_limit_reached' });
      expect(errorOf(res).detail).toContain('100');
    });
  });

  describe('bad input changes nothing', () => {
    const cases: Array<[string, { payload: string; type?: string }, number, string]> = [
      ['missing label', { payload: JSON.stringify(jsonApi('user_app_token', {})) }, 400, 'invalid_request'],
      ['empty label', { payload: JSON.stringify(create('')) }, 400, 'invalid_request'],
      ['blank label', { payload: JSON.stringify(create('   ')) }, 400, 'invalid_request'],
      ['5,000-character label', { payload: JSON.stringify(create('x'.repeat(5000))) }, 400, 'invalid_request'],
      [
        'label of the wrong type',
        { payload: JSON.stringify(jsonApi('user_app_token', { label: 42 })) },
        400,
        'invalid_request',
      ],
      ['wrong JSON:API type', { payload: JSON.stringify(jsonApi('user', { label: 'x' })) }, 409, 'type_mismatch'],
      ['no data member', { payload: JSON.stringify({ label: 'x' }) }, 400, 'invalid_request'],
      [
        'unknown attribute',
        { payload: JSON.stringify(jsonApi('user_app_token', { label: 'x', token: 'a'.repeat(48) })) },
        400,
        'invalid_request',
      ],
      [
        'malformed JSON',
        { payload: '{"data": {"type": "user_app_token", "attributes": {"label": "x"}' },
        400,
        'invalid_json',
      ],
      ['empty body', { payload: '' }, 400, 'invalid_json'],
      ['a JSON array', { payload: '[]' }, 400, 'invalid_request'],
      [
        '__proto__ key',
        { payload: '{"data":{"type":"user_app_token","attributes":{"label":"x","__proto__":{"admin":true}}}}' },
        400,
        'invalid_request',
      ],
      [
        'constructor.prototype key',
        {
          payload:
            '{"data":{"type":"user_app_token","attributes":{"label":"x"}},"constructor":{"prototype":{"admin":true}}}',
        },
        400,
        'invalid_request',
      ],
      ['a 3 MB body', { payload: JSON.stringify(create('x'.repeat(3 * 1024 * 1024))) }, 413, 'payload_too_large'],
      ['text/plain body', { payload: 'label=x', type: 'text/plain' }, 415, 'unsupported_media_type'],
    ];

    it.each(cases)('%s → %s %s', async (_name, { payload, type }, status, code) => {
      const { user, token } = await t.userWithToken();
      const res = await t.inject({
        method: 'POST',
        url: '/core/users/me/user_app_tokens',
        headers: { ...t.bearer(token), 'content-type': type ?? 'application/vnd.api+json' },
        payload,
      });
      expect(res.statusCode).toBe(status);
      expect(errorOf(res).code).toBe(code);
      expect(res.headers['content-type']).toMatch(/^application\/vnd\.api\+json/);
      expect((await t.services.tokens.listOf(user.id, { number: 1, size: 10 })).total).toBe(1);
      expect(({} as Record<string, unknown>).admin).toBeUndefined();
    });
  });

  describe('list', () => {
    it('pages with page[number] and page[size] and links', async () => {
      const { user, token } = await t.userWithToken();
      for (let i = 0; i < 4; i++) await t.createToken(user.id, `t${i}`);
      const res = await t.inject({
        method: 'GET',
        url: '/core/users/me/user_app_tokens?page[number]=2&page[size]=2',
        headers: t.bearer(token),
      });
      expect(res.statusCode).toBe(200);
      const body = res.json();
      expect(body.data).toHaveLength(2);
      expect(body.meta.page).toEqual({ number: 2, size: 2, total_items: 5, total_pages: 3 });
      expect(body.links.next).toContain('page%5Bnumber%5D=3');
      expect(body.links.prev).toContain('page%5Bnumber%5D=1');
    });

    it('rejects a bad page parameter with 400', async () => {
      const { token } = await t.userWithToken();
      for (const q of ['page[number]=0', 'page[size]=-1', 'page[size]=abc', 'page[size]=101', 'page[number]=9999999']) {
        const res = await t.inject({
          method: 'GET',
          url: `/core/users/me/user_app_tokens?${q}`,
          headers: t.bearer(token),
        });
        expect(res.statusCode, q).toBe(400);
        expect(errorOf(res).code).toBe('invalid_request');
      }
    });

    it("lets a user admin list anyone's tokens", async () => {
      const { token } = await t.userWithToken(['global_user_admin', 'developer']);
      const { user: other } = await t.userWithToken();
      const res = await t.inject({
        method: 'GET',
        url: `/core/users/${other.id}/user_app_tokens`,
        headers: t.bearer(token),
      });
      expect(res.statusCode).toBe(200);
      expect(res.json().data).toHaveLength(1);
    });

    it('answers 404 for a user that does not exist, even to an admin', async () => {
      const { token } = await t.userWithToken(['global_admin', 'developer']);
      const res = await t.inject({
        method: 'GET',
        url: '/core/users/00000000-0000-0000-0000-000000000000/user_app_tokens',
        headers: t.bearer(token),
      });
      expect(res.statusCode).toBe(404);
    });
  });

  describe('revoke', () => {
    it('deletes the token with 204; it fails on the very next request', async () => {
      const { user, token } = await t.userWithToken();
      const other = await t.createToken(user.id, 'to revoke');
      const { items } = await t.services.tokens.listOf(user.id, { number: 1, size: 10 });
      const target = items.find((i) => i.label === 'to revoke');
      expect((await t.inject({ method: 'GET', url: '/core/users/me', headers: t.bearer(other) })).statusCode).toBe(200);
      const res = await t.inject({
        method: 'DELETE',
        url: `/core/users/me/user_app_tokens/${target?.id}`,
        headers: t.bearer(token),
      });
      expect(res.statusCode).toBe(204);
      expect(res.body).toBe('');
      const after = await t.inject({ method: 'GET', url: '/core/users/me', headers: t.bearer(other) });
      expect(after.statusCode).toBe(401);
      expect(after.headers['www-authenticate']).toContain('error="invalid_token"');
      const again = await t.inject({
        method: 'DELETE',
        url: `/core/users/me/user_app_tokens/${target?.id}`,
        headers: t.bearer(token),
      });
      expect(again.statusCode).toBe(404);
    });

    it('a token can revoke itself', async () => {
      const { user, token } = await t.userWithToken();
      const [own] = (await t.services.tokens.listOf(user.id, { number: 1, size: 1 })).items;
      const res = await t.inject({
        method: 'DELETE',
        url: `/core/users/me/user_app_tokens/${own?.id}`,
        headers: t.bearer(token),
      });
      expect(res.statusCode).toBe(204);
      expect((await t.inject({ method: 'GET', url: '/core/users/me', headers: t.bearer(token) })).statusCode).toBe(401);
    });

    it("lets a user admin revoke anyone's token but not a plain developer", async () => {
      const { token: adminToken } = await t.userWithToken(['global_user_admin', 'developer']);
      const { token: devToken } = await t.userWithToken();
      const { user: victim, token: victimToken } = await t.userWithToken();
      const [target] = (await t.services.tokens.listOf(victim.id, { number: 1, size: 1 })).items;
      const url = `/core/users/${victim.id}/user_app_tokens/${target?.id}`;

      const denied = await t.inject({ method: 'DELETE', url, headers: t.bearer(devToken) });
      expect(denied.statusCode).toBe(404);
      expect(
        (await t.inject({ method: 'GET', url: '/core/users/me', headers: t.bearer(victimToken) })).statusCode,
      ).toBe(200);

      const ok = await t.inject({ method: 'DELETE', url, headers: t.bearer(adminToken) });
      expect(ok.statusCode).toBe(204);
      expect(
        (await t.inject({ method: 'GET', url: '/core/users/me', headers: t.bearer(victimToken) })).statusCode,
      ).toBe(401);
    });

    it("cannot reach another user's token through one's own collection", async () => {
      const { token } = await t.userWithToken();
      const { user: victim, token: victimToken } = await t.userWithToken();
      const [target] = (await t.services.tokens.listOf(victim.id, { number: 1, size: 1 })).items;
      const res = await t.inject({
        method: 'DELETE',
        url: `/core/users/me/user_app_tokens/${target?.id}`,
        headers: t.bearer(token),
      });
      expect(res.statusCode).toBe(404);
      expect(
        (await t.inject({ method: 'GET', url: '/core/users/me', headers: t.bearer(victimToken) })).statusCode,
      ).toBe(200);
    });
  });

  it('creates and uses many tokens through the API without any of them reaching a log or the database', async () => {
    // The leak check itself runs when the suite closes (see harness.ts): it searches every
    // captured log line, every table row and the SQLite file for every token seen here.
    const created: string[] = [];
    for (let u = 0; u < 3; u++) {
      const { user, token } = await t.userWithToken();
      await t.services.users.setRateLimit(user.id, 1000);
      for (let i = 0; i < 40; i++) {
        const res = await t.inject({
          method: 'POST',
          url: '/core/users/me/user_app_tokens',
          headers: t.bearer(token),
          payload: create(`bulk ${u}-${i}`),
        });
        expect(res.statusCode).toBe(201);
        created.push(res.json().data.attributes.token);
      }
    }
    expect(new Set(created).size).toBe(120);
    for (const token of created) {
      expect((await t.inject({ method: 'GET', url: '/core/users/me', headers: t.bearer(token) })).statusCode).toBe(200);
    }
    expect(created.every((token) => t.tokens.has(token))).toBe(true);
  });

  describe('last_accessed_at', () => {
    it('is written at most once a minute per token, with the client address', async () => {
      const { user, token } = await t.userWithToken();
      const read = async () => (await t.services.tokens.listOf(user.id, { number: 1, size: 1 })).items[0];
      expect((await read())?.last_accessed_at).toBeNull();

      await t.inject({ method: 'GET', url: '/core/users/me', headers: t.bearer(token), remoteAddress: '10.1.2.3' });
      const first = await read();
      expect(first?.last_accessed_at).toBe(t.clock.now().toISOString());
      expect(first?.last_accessed_ip).toBe('10.1.2.3');

      t.clock.advance(30);
      await t.inject({ method: 'GET', url: '/core/users/me', headers: t.bearer(token), remoteAddress: '10.9.9.9' });
      expect(await read()).toEqual(first);

      t.clock.advance(31);
      await t.inject({ method: 'GET', url: '/core/users/me', headers: t.bearer(token), remoteAddress: '10.9.9.9' });
      const later = await read();
      expect(later?.last_accessed_at).toBe(t.clock.now().toISOString());
      expect(later?.last_accessed_ip).toBe('10.9.9.9');
    });
  });
});
