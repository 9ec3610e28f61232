import { randomInt } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { errorOf, jsonApi, startTestApp, type TestApp } from './harness.js';

/** The same suite in memory and, when REDIS_URL is set (CI), against a real Redis. */
const BACKENDS: Array<[string, string | null]> = [['memory', null]];
if (process.env.REDIS_URL) BACKENDS.push(['redis', process.env.REDIS_URL]);

const randomAddress = () => `10.${randomInt(256)}.${randomInt(256)}.${randomInt(1, 255)}`;

describe.each(BACKENDS)('rate limits (%s)', (_name, redisUrl) => {
  let t: TestApp & { close(): Promise<void> };
  beforeAll(async () => {
    t = await startTestApp('sqlite', { redisUrl, trustedProxies: ['127.0.0.2'] });
  });
  afterAll(async () => t.close());

  const me = (token: string, remoteAddress = randomAddress()) =>
    t.inject({ method: 'GET', url: '/core/users/me', headers: t.bearer(token), remoteAddress });

  it('reports the limit state on every authenticated response, in both header styles', async () => {
    const { token } = await t.userWithToken();
    const res = await me(token);
    expect(res.statusCode).toBe(200);
    expect(res.headers['ratelimit-policy']).toBe('"default";q=60;w=60');
    expect(res.headers.ratelimit).toBe('"default";r=59;t=60');
    expect(res.headers['x-ratelimit-limit']).toBe('60');
    expect(res.headers['x-ratelimit-remaining']).toBe('59');
    expect(res.headers['x-ratelimit-reset']).toBe('60');
    t.clock.advance(18);
    const later = await me(token);
    expect(later.headers.ratelimit).toBe('"default";r=58;t=42');
  });

  it('lets exactly 60 of 61 quick requests through; waiting Retry-After is enough', async () => {
    const { token } = await t.userWithToken();
    const statuses: number[] = [];
    for (let i = 0; i < 61; i++) statuses.push((await me(token)).statusCode);
    expect(statuses.filter((s) => s === 200)).toHaveLength(60);
    expect(statuses[60]).toBe(429);

    t.clock.advance(20);
    const refused = await me(token);
    expect(refused.statusCode).toBe(429);
    const error = errorOf(refused);
    expect(error.code).toBe('too_many_requests');
    expect(error.detail).toContain('60 requests per 60 seconds');
    expect(refused.headers['retry-after']).toBe('40');
    expect(refused.headers['x-ratelimit-remaining']).toBe('0');
    expect(refused.headers.ratelimit).toBe('"default";r=0;t=40');

    t.clock.advance(39);
    expect((await me(token)).statusCode).toBe(429);
    t.clock.advance(1);
    expect((await me(token)).statusCode).toBe(200);
  });

  it('lets at most the limit through from 200 concurrent requests', async () => {
    const { token } = await t.userWithToken();
    const results = await Promise.all(Array.from({ length: 200 }, () => me(token)));
    expect(results.filter((r) => r.statusCode === 200)).toHaveLength(60);
    expect(results.filter((r) => r.statusCode === 429)).toHaveLength(140);
    for (const r of results) expect(Number(r.headers['x-ratelimit-remaining'])).toBeGreaterThanOrEqual(0);
  });

  it("shares one limit among a user's tokens and leaves other users alone", async () => {
    const { user } = await t.userWithToken();
    const tokens = [await t.createToken(user.id, 'a'), await t.createToken(user.id, 'b')];
    for (let i = 0; i < 3; i++) tokens.push(await t.createToken(user.id, `c${i}`));
    let accepted = 0;
    for (let i = 0; i < 70; i++) if ((await me(tokens[i % 5] as string)).statusCode === 200) accepted++;
    expect(accepted).toBe(60);
    const { token: other } = await t.userWithToken();
    const res = await me(other);
    expect(res.statusCode).toBe(200);
    expect(res.headers['x-ratelimit-remaining']).toBe('59');
  });

  it('applies a raised user limit and a changed instance default on the very next request', async () => {
    const { token: adminToken } = await t.userWithToken(['global_admin', 'developer']);
    const { user, token } = await t.userWithToken();
    for (let i = 0; i < 60; i++) await me(token);
    expect((await me(token)).statusCode).toBe(429);

    const raise = await t.inject({
      method: 'PATCH',
      url: `/core/users/${user.id}`,
      headers: t.bearer(adminToken),
      payload: jsonApi('user', { rate_limit_per_minute: 1000 }),
    });
    expect(raise.statusCode).toBe(200);
    expect(raise.json().data.attributes.rate_limit_per_minute).toBe(1000);
    const after = await me(token);
    expect(after.statusCode).toBe(200);
    expect(after.headers['ratelimit-policy']).toBe('"default";q=1000;w=60');

    const { token: plain } = await t.userWithToken();
    const lower = await t.inject({
      method: 'PATCH',
      url: '/core/instance_settings',
      headers: t.bearer(adminToken),
      payload: jsonApi('instance_settings', { rate_limit_per_minute: 5 }),
    });
    expect(lower.statusCode).toBe(200);
    expect(lower.json().data.attributes.rate_limit_per_minute).toBe(5);
    try {
      for (let i = 0; i < 5; i++) expect((await me(plain)).statusCode).toBe(200);
      expect((await me(plain)).statusCode).toBe(429);
      expect((await me(token)).statusCode).toBe(200);
    } finally {
      await t.services.settings.update({ rate_limit_per_minute: 60 });
    }
  });

  it('lets only a global_admin change a user limit', async () => {
    const { token: userAdmin } = await t.userWithToken(['global_user_admin', 'developer']);
    const { user } = await t.userWithToken();
    const res = await t.inject({
      method: 'PATCH',
      url: `/core/users/${user.id}`,
      headers: t.bearer(userAdmin),
      payload: jsonApi('user', { rate_limit_per_minute: 1000 }),
    });
    expect(res.statusCode).toBe(403);
    expect((await t.services.users.findByEmail(user.email))?.rate_limit_per_minute).toBeNull();
  });

  it('limits a flood of invalid tokens per address without touching any user quota', async () => {
    const { token } = await t.userWithToken();
    const address = randomAddress();
    const statuses: number[] = [];
    for (let i = 0; i < 40; i++) {
      const res = await t.inject({
        method: 'GET',
        url: '/core/users/me',
        headers: {
          authorization: `Bearer ${randomInt(2 ** 40)
            .toString(16)
            .padStart(48, '0')}`,
        },
        remoteAddress: address,
      });
      statuses.push(res.statusCode);
    }
    expect(statuses.slice(0, 30).every((s) => s === 401)).toBe(true);
    expect(statuses.slice(30).every((s) => s === 429)).toBe(true);
    const refused = await t.inject({
      method: 'GET',
      url: '/core/users/me',
      headers: { authorization: 'Bearer nonsense' },
      remoteAddress: address,
    });
    expect(refused.headers['ratelimit-policy']).toBe('"failed_auth";q=30;w=60');
    expect(Number(refused.headers['retry-after'])).toBeGreaterThan(0);

    const elsewhere = await me(token);
    expect(elsewhere.statusCode).toBe(200);
    expect(elsewhere.headers['x-ratelimit-remaining']).toBe('59');
  });

  it('holds the failure limits when the failures arrive all at once', async () => {
    const address = randomAddress();
    const flood = await Promise.all(
      Array.from({ length: 100 }, () =>
        t.inject({
          method: 'GET',
          url: '/core/users/me',
          headers: { authorization: `Bearer ${'e'.repeat(48)}` },
          remoteAddress: address,
        }),
      ),
    );
    expect(flood.filter((r) => r.statusCode === 401)).toHaveLength(30);
    expect(flood.filter((r) => r.statusCode === 429)).toHaveLength(70);

    const password = 'the one right password';
    const user = await t.createUser(['developer'], { password });
    const guesses = await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        t.inject({
          method: 'POST',
          url: '/auth/login',
          payload: { email: user.email, password: i === 19 ? password : `wrong guess ${i}` },
          remoteAddress: randomAddress(),
        }),
      ),
    );
    expect(guesses.filter((r) => r.statusCode === 401 || r.statusCode === 200).length).toBeLessThanOrEqual(5);
    expect(guesses.filter((r) => r.statusCode === 429).length).toBeGreaterThanOrEqual(15);
  });

  it('groups IPv6 clients by /64 when counting failures', async () => {
    const prefix = `2001:db8:${randomInt(65536).toString(16)}:${randomInt(65536).toString(16)}`;
    for (let i = 0; i < 30; i++) {
      await t.inject({ method: 'GET', url: '/core/users/me', remoteAddress: `${prefix}::${(i + 1).toString(16)}` });
    }
    const res = await t.inject({ method: 'GET', url: '/core/users/me', remoteAddress: `${prefix}:1:2:3:4` });
    expect(res.statusCode).toBe(429);
  });

  it('ignores X-Forwarded-For from an untrusted peer and believes it from a trusted proxy', async () => {
    const untrusted = randomAddress();
    for (let i = 0; i < 30; i++) {
      await t.inject({
        method: 'GET',
        url: '/core/users/me',
        headers: { 'x-forwarded-for': randomAddress() },
        remoteAddress: untrusted,
      });
    }
    const rotated = await t.inject({
      method: 'GET',
      url: '/core/users/me',
      headers: { 'x-forwarded-for': randomAddress() },
      remoteAddress: untrusted,
    });
    expect(rotated.statusCode).toBe(429);

    const client = randomAddress();
    for (let i = 0; i < 30; i++) {
      await t.inject({
        method: 'GET',
        url: '/core/users/me',
        headers: { 'x-forwarded-for': client },
        remoteAddress: '127.0.0.2',
      });
    }
    const viaProxy = (xff: string) =>
      t.inject({
        method: 'GET',
        url: '/core/users/me',
        headers: { 'x-forwarded-for': xff },
        remoteAddress: '127.0.0.2',
      });
    expect((await viaProxy(client)).statusCode).toBe(429);
    expect((await viaProxy(randomAddress())).statusCode).toBe(401);
  });

  it('gives web sessions their own, larger limit', async () => {
    const password = 'a password for the limits';
    const user = await t.createUser(['developer'], { password });
    const token = await t.createToken(user.id);
    const login = await t.inject({
      method: 'POST',
      url: '/auth/login',
      payload: { email: user.email, password },
      remoteAddress: randomAddress(),
    });
    const cookie = String(login.headers['set-cookie']).split(';')[0] as string;
    for (let i = 0; i < 60; i++) await me(token);
    expect((await me(token)).statusCode).toBe(429);
    const viaSession = await t.inject({ method: 'GET', url: '/core/users/me', headers: { cookie } });
    expect(viaSession.statusCode).toBe(200);
    expect(viaSession.headers['ratelimit-policy']).toBe('"session";q=600;w=60');
  });

  it('limits endpoints that need no credentials per address', async () => {
    const address = randomAddress();
    const get = () => t.inject({ method: 'GET', url: '/core/openapi.json', remoteAddress: address });
    for (let i = 0; i < 120; i++) expect((await get()).statusCode).toBe(200);
    const res = await get();
    expect(res.statusCode).toBe(429);
    expect(res.headers['ratelimit-policy']).toBe('"anonymous";q=120;w=60');
    expect(
      (await t.inject({ method: 'GET', url: '/core/openapi.json', remoteAddress: randomAddress() })).statusCode,
    ).toBe(200);
  });
});
