import net from 'node:net';
import { describe, expect, it } from 'vitest';
import { API_VERSIONS, CURRENT_API_VERSION } from '../src/gateway/api-version.js';
import { DIALECTS, errorOf, useTestApp } from './harness.js';

const CHALLENGE = 'Bearer realm="gatehouse"';

/** Sends raw HTTP, for what inject cannot express (repeated headers, oversized headers). */
async function rawRequest(port: number, head: string): Promise<{ status: number; headers: string; body: string }> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1');
    let data = '';
    socket.on('data', (chunk) => {
      data += chunk.toString('latin1');
    });
    socket.on('end', () => {
      const [headers = '', body = ''] = data.split('\r\n\r\n');
      resolve({ status: Number(headers.split(' ')[1]), headers, body });
    });
    socket.on('error', reject);
    socket.write(`${head}Connection: close\r\n\r\n`);
  });
}

describe.each(DIALECTS)('gateway: bearer authentication (%s)', (dialect) => {
  const t = useTestApp(dialect);
  const me = (headers: Record<string, string>) => t.inject({ method: 'GET', url: '/core/users/me', headers });

  it('answers 401 with a bare challenge when no credentials are sent', async () => {
    const res = await me({});
    expect(res.statusCode).toBe(401);
    expect(res.headers['www-authenticate']).toBe(CHALLENGE);
    expect(errorOf(res).code).toBe('authentication_required');
  });

  it('treats another scheme like no credentials', async () => {
    const res = await me({ authorization: 'Basic dXNlcjpwYXNz' });
    expect(res.statusCode).toBe(401);
    expect(res.headers['www-authenticate']).toBe(CHALLENGE);
  });

  it('accepts the scheme in any letter case', async () => {
    const { user, token } = await t.userWithToken();
    for (const scheme of ['Bearer', 'bearer', 'BEARER', 'bEaReR']) {
      const res = await me({ authorization: `${scheme} ${token}` });
      expect(res.statusCode, scheme).toBe(200);
      expect(res.json().data.id).toBe(user.id);
    }
  });

  it.each([
    ['an empty value after Bearer', 'Bearer '],
    ['Bearer alone', 'Bearer'],
    ['two tokens', `Bearer ${'a'.repeat(48)} ${'b'.repeat(48)}`],
    ['characters no token has', 'Bearer abc$%^'],
    ['an overlong value', `Bearer ${'a'.repeat(5000)}`],
  ])('answers 400 invalid_request for %s', async (_name, authorization) => {
    const res = await me({ authorization });
    expect(res.statusCode).toBe(400);
    expect(errorOf(res).code).toBe('invalid_request');
    expect(res.headers['www-authenticate']).toBe(`${CHALLENGE}, error="invalid_request"`);
  });

  it('refuses a token in the URL', async () => {
    const { token } = await t.userWithToken();
    const res = await t.inject({ method: 'GET', url: `/core/users/me?access_token=${token}` });
    expect(res.statusCode).toBe(400);
    expect(errorOf(res).code).toBe('invalid_request');
  });

  it('keeps a token glued to the path (no "?") out of the log', async () => {
    const { token } = await t.userWithToken();
    // A user id of "me&access_token=…": unauthenticated, 401.
    expect((await t.inject({ method: 'GET', url: `/core/users/me&access_token=${token}` })).statusCode).toBe(401);
    // No such route: 404, whose detail repeats the path.
    expect((await t.inject({ method: 'GET', url: `/core/nowhere&access_token=${token}` })).statusCode).toBe(404);
    expect(t.logs.some((line) => line.includes(token))).toBe(false);
  });

  it.each([
    ['an unknown token', 'f'.repeat(48)],
    ['a token of the wrong shape', 'abc'],
    ['an upper-case token', 'A'.repeat(48)],
  ])('answers 401 invalid_token for %s', async (_name, token) => {
    const res = await me({ authorization: `Bearer ${token}` });
    expect(res.statusCode).toBe(401);
    expect(res.headers['www-authenticate']).toBe(
      `Bearer realm="gatehouse", error="invalid_token", error_description="${errorOf(res).detail}"`,
    );
    expect(errorOf(res).code).toBe('invalid_token');
  });

  it("logs each failure in the request's one line, with its reason and the token id, never the token", async () => {
    const { user, token } = await t.userWithToken();
    await t.services.users.setRoles(user.id, []);
    const res = await me(t.bearer(token));
    expect(res.statusCode).toBe(403);
    const [row] = (await t.services.tokens.listOf(user.id, { number: 1, size: 1 })).items;
    const lines = t.logs
      .map((l) => JSON.parse(l) as Record<string, unknown>)
      .filter((l) => l.request_id === res.headers['x-request-id']);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({
      status: 403,
      error_code: 'insufficient_scope',
      auth_failure: 'not_developer',
      token_id: row?.id,
      url: '/core/users/me',
    });
    expect(JSON.stringify(lines[0])).not.toContain(token);
  });

  it('answers 403 with a reason when the user lost the developer role, and works again when it is back', async () => {
    const { user, token } = await t.userWithToken(['developer']);
    await t.services.users.setRoles(user.id, []);
    const denied = await me(t.bearer(token));
    expect(denied.statusCode).toBe(403);
    expect(denied.headers['www-authenticate']).toBe(`${CHALLENGE}, error="insufficient_scope"`);
    expect(errorOf(denied)).toMatchObject({ code: 'insufficient_scope' });
    expect(errorOf(denied).detail).toContain('developer role');
    await t.services.users.setRoles(user.id, ['developer']);
    expect((await me(t.bearer(token))).statusCode).toBe(200);
  });

  it('applies a lowered role on the very next request', async () => {
    const { user, token } = await t.userWithToken(['developer', 'global_user_admin']);
    const list = () => t.inject({ method: 'GET', url: '/core/users', headers: t.bearer(token) });
    expect((await list()).statusCode).toBe(200);
    await t.services.users.setRoles(user.id, ['developer']);
    const res = await list();
    expect(res.statusCode).toBe(403);
    expect(errorOf(res).code).toBe('insufficient_scope');
  });

  it("rejects an archived user's token on the very next request, for good", async () => {
    const { user, token } = await t.userWithToken();
    expect((await me(t.bearer(token))).statusCode).toBe(200);
    await t.services.users.archiveUser(user.id);
    expect((await me(t.bearer(token))).statusCode).toBe(401);
    await t.db.updateTable('users').set({ archived_at: null }).where('id', '=', user.id).execute();
    expect((await me(t.bearer(token))).statusCode).toBe(401);
  });

  it('rejects a token that expired under the current setting', async () => {
    const { token } = await t.userWithToken();
    await t.services.settings.update({ token_expiry_seconds: 3600 });
    try {
      expect((await me(t.bearer(token))).statusCode).toBe(200);
      t.clock.advance(3600);
      const res = await me(t.bearer(token));
      expect(res.statusCode).toBe(401);
      expect(errorOf(res).detail).toContain('expired');
    } finally {
      await t.services.settings.update({ token_expiry_seconds: null });
    }
  });

  it('echoes a safe X-Request-Id and replaces an unsafe one', async () => {
    const ok = await me({ 'x-request-id': 'trace-123' });
    expect(ok.headers['x-request-id']).toBe('trace-123');
    expect(errorOf(ok).meta.request_id).toBe('trace-123');
    const unsafe = await me({ 'x-request-id': 'bad id\twith spaces' });
    expect(unsafe.headers['x-request-id']).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('answers unknown routes with a JSON:API 404', async () => {
    const { token } = await t.userWithToken();
    const res = await t.inject({ method: 'GET', url: '/core/nothing-here', headers: t.bearer(token) });
    expect(res.statusCode).toBe(404);
    expect(errorOf(res).code).toBe('not_found');
  });

  describe('over real HTTP', () => {
    it('refuses two Authorization headers with 400, even if both are valid', async () => {
      const { token } = await t.userWithToken();
      await t.app.listen({ host: '127.0.0.1', port: 0 });
      const address = t.app.server.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      const res = await rawRequest(
        port,
        `GET /core/users/me HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${token}\r\nAuthorization: Bearer ${token}\r\n`,
      );
      expect(res.status).toBe(400);
      expect(JSON.parse(res.body).errors[0].code).toBe('invalid_request');

      const single = await rawRequest(
        port,
        `GET /core/users/me HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${token}\r\n`,
      );
      expect(single.status).toBe(200);

      const huge = await rawRequest(
        port,
        `GET /core/users/me HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${'a'.repeat(20_000)}\r\n`,
      );
      expect(huge.status).toBe(431);
      expect(huge.headers).toContain('application/vnd.api+json');
      expect(JSON.parse(huge.body).errors[0].code).toBe('header_too_large');
    });
  });
});

describe.each(DIALECTS)('gateway: versions, documents and the OpenAPI document (%s)', (dialect) => {
  const t = useTestApp(dialect);

  it('answers with the current version when none is asked for, and with a known one when asked', async () => {
    const { token } = await t.userWithToken();
    const absent = await t.inject({ method: 'GET', url: '/core/users/me', headers: t.bearer(token) });
    expect(absent.headers['api-version']).toBe(CURRENT_API_VERSION);
    const asked = await t.inject({
      method: 'GET',
      url: '/core/users/me',
      headers: { ...t.bearer(token), 'api-version': API_VERSIONS[0] },
    });
    expect(asked.statusCode).toBe(200);
    expect(asked.headers['api-version']).toBe(API_VERSIONS[0]);
  });

  it('refuses an unknown version with 400 naming the supported ones', async () => {
    const { token } = await t.userWithToken();
    const res = await t.inject({
      method: 'GET',
      url: '/core/users/me',
      headers: { ...t.bearer(token), 'api-version': '2020-01-01' },
    });
    expect(res.statusCode).toBe(400);
    const error = errorOf(res);
    expect(error.code).toBe('unsupported_api_version');
    for (const v of API_VERSIONS) expect(error.detail).toContain(v);
  });

  it('serves an OpenAPI 3.1 document without credentials, generated from the routes', async () => {
    const res = await t.inject({ method: 'GET', url: '/core/openapi.json' });
    expect(res.statusCode).toBe(200);
    const doc = res.json();
    expect(doc.openapi).toBe('3.1.0');
    expect(Object.keys(doc.paths)).toEqual(
      expect.arrayContaining([
        '/core/users/{id}',
        '/core/users/{user_id}/user_app_tokens',
        '/core/users/{user_id}/user_app_tokens/{id}',
        '/core/instance_settings',
      ]),
    );
    expect(doc.paths['/core/users/{user_id}/user_app_tokens'].post.responses['201']).toBeDefined();
    const create = doc.paths['/core/users/{user_id}/user_app_tokens'].post;
    expect(Object.keys(create.requestBody.content)).toEqual(['application/vnd.api+json', 'application/json']);
    expect(Object.keys(create.responses['201'].content)).toEqual(['application/vnd.api+json']);
    expect(res.body).not.toContain('token_hash');
    expect(res.body).not.toContain('password_hash');
  });

  it('answers /healthz and /readyz', async () => {
    expect((await t.inject({ method: 'GET', url: '/healthz' })).json()).toEqual({ status: 'ok' });
    expect((await t.inject({ method: 'GET', url: '/readyz' })).statusCode).toBe(200);
  });
});
