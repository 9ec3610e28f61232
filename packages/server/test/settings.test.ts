import type { InjectOptions, LightMyRequestResponse } from 'fastify';
import { afterEach, describe, expect, it } from 'vitest';
import { MAX_TOKEN_EXPIRY_SECONDS } from '../src/settings/service.js';
import { DIALECTS, errorOf, jsonApi, type TestApp, useTestApp } from './harness.js';

const URL = '/core/instance_settings';
const HOUR = 3600;
const DAY = 24 * HOUR;
const INSUFFICIENT_SCOPE = 'Bearer realm="gatehouse", error="insufficient_scope"';

const expiry = (value: unknown) => jsonApi('instance_settings', { token_expiry_seconds: value });
/** The impact's shape, for the shared app whose other tests' tokens make exact counts meaningless. */
const anyImpact = {
  tokens_expiring_now: expect.any(Number),
  users_affected_now: expect.any(Number),
  tokens_expiring_within_7_days: expect.any(Number),
  users_affected_within_7_days: expect.any(Number),
};
const noImpact = {
  tokens_expiring_now: 0,
  users_affected_now: 0,
  tokens_expiring_within_7_days: 0,
  users_affected_within_7_days: 0,
};

/** The stored setting, read straight from the table: undefined when it was never written. */
async function storedExpiry(t: TestApp): Promise<unknown> {
  const row = await t.db
    .selectFrom('instance_settings')
    .select('value')
    .where('key', '=', 'token_expiry_seconds')
    .executeTakeFirst();
  return row === undefined ? undefined : JSON.parse(row.value);
}

function helpers(t: TestApp) {
  return {
    read: (token: string) => t.inject({ method: 'GET', url: URL, headers: t.bearer(token) }),
    change: (token: string, payload: InjectOptions['payload'], query = '') =>
      t.inject({ method: 'PATCH', url: `${URL}${query}`, headers: t.bearer(token), payload }),
    me: (token: string) => t.inject({ method: 'GET', url: '/core/users/me', headers: t.bearer(token) }),
  };
}

const expectExpired = (res: LightMyRequestResponse) => {
  expect(res.statusCode).toBe(401);
  expect(errorOf(res)).toMatchObject({ code: 'invalid_token', detail: 'The token has expired.' });
  expect(res.headers['www-authenticate']).toContain('error="invalid_token"');
};

describe.each(DIALECTS)('instance settings (%s)', (dialect) => {
  const t = useTestApp(dialect);
  const { read, change, me } = helpers(t);
  const admin = () => t.userWithToken(['global_admin', 'developer']);

  afterEach(async () => {
    await t.services.settings.update({ token_expiry_seconds: null });
  });

  describe('access', () => {
    it('lets a global_admin read the settings: expiry is off by default', async () => {
      const { token } = await admin();
      const res = await read(token);
      expect(res.statusCode).toBe(200);
      expect(res.headers['content-type']).toMatch(/^application\/vnd\.api\+json/);
      expect(res.json()).toEqual({
        data: {
          type: 'instance_settings',
          id: 'instance',
          attributes: { token_expiry_seconds: null, rate_limit_per_minute: 60 },
          links: { self: URL },
        },
      });
    });

    it.each([[['global_user_admin', 'developer']], [['developer']]])(
      'answers 403 to %j for GET, PATCH and a dry run, and changes nothing',
      async (roles) => {
        const { token } = await t.userWithToken(roles);
        await t.services.settings.update({ token_expiry_seconds: 7200 });
        for (const res of [
          await read(token),
          await change(token, expiry(3600)),
          await change(token, expiry(3600), '?dry_run=true'),
          await change(token, expiry(null)),
        ]) {
          expect(res.statusCode).toBe(403);
          expect(errorOf(res).code).toBe('insufficient_scope');
          expect(res.headers['www-authenticate']).toBe(INSUFFICIENT_SCOPE);
          expect(res.body).not.toContain('impact');
          expect(res.body).not.toContain('7200');
        }
        expect(await t.services.settings.get()).toEqual({ token_expiry_seconds: 7200, rate_limit_per_minute: 60 });
      },
    );

    it('answers 401 without credentials', async () => {
      for (const res of [
        await t.inject({ method: 'GET', url: URL }),
        await t.inject({ method: 'PATCH', url: URL, payload: expiry(3600) }),
      ]) {
        expect(res.statusCode).toBe(401);
        expect(errorOf(res).code).toBe('authentication_required');
      }
      expect(await t.services.settings.get()).toEqual({ token_expiry_seconds: null, rate_limit_per_minute: 60 });
    });
  });

  describe('PATCH', () => {
    it('saves the expiry and answers the new settings with meta', async () => {
      const { token } = await admin();
      const res = await change(token, expiry(3600));
      expect(res.statusCode).toBe(200);
      expect(res.json()).toEqual({
        data: {
          type: 'instance_settings',
          id: 'instance',
          attributes: { token_expiry_seconds: 3600, rate_limit_per_minute: 60 },
          links: { self: URL },
        },
        meta: { dry_run: false, impact: anyImpact },
      });
      expect(await storedExpiry(t)).toBe(3600);
      expect((await read(token)).json().data.attributes.token_expiry_seconds).toBe(3600);

      const explicit = await change(token, expiry(7200), '?dry_run=false');
      expect(explicit.statusCode).toBe(200);
      expect(explicit.json().meta.dry_run).toBe(false);
      expect(await storedExpiry(t)).toBe(7200);

      const off = await change(token, expiry(null));
      expect(off.statusCode).toBe(200);
      expect(off.json().data.attributes.token_expiry_seconds).toBeNull();
      expect(await t.services.settings.get()).toEqual({ token_expiry_seconds: null, rate_limit_per_minute: 60 });
    });

    it('accepts the bounds: 60 seconds and the maximum', async () => {
      const { token } = await admin();
      for (const value of [60, MAX_TOKEN_EXPIRY_SECONDS]) {
        const res = await change(token, expiry(value), '?dry_run=true');
        expect(res.statusCode, String(value)).toBe(200);
      }
      const res = await change(token, expiry(MAX_TOKEN_EXPIRY_SECONDS));
      expect(res.statusCode).toBe(200);
      expect(await storedExpiry(t)).toBe(MAX_TOKEN_EXPIRY_SECONDS);
    });

    it('with ?dry_run=true saves nothing and answers what would be', async () => {
      const { token } = await admin();
      await t.services.settings.update({ token_expiry_seconds: 7200 });
      const res = await change(token, expiry(3600), '?dry_run=true');
      expect(res.statusCode).toBe(200);
      expect(res.json().data.attributes.token_expiry_seconds).toBe(3600);
      expect(res.json().meta).toEqual({ dry_run: true, impact: anyImpact });
      expect(await storedExpiry(t)).toBe(7200);
      expect((await read(token)).json().data.attributes.token_expiry_seconds).toBe(7200);
    });

    const raw = (value: string) =>
      `{"data":{"type":"instance_settings","attributes":{"token_expiry_seconds":${value}}}}`;
    const bad: Array<[string, { payload: unknown; query?: string; type?: string }, number, string]> = [
      ['59', { payload: expiry(59) }, 400, 'invalid_request'],
      ['0', { payload: expiry(0) }, 400, 'invalid_request'],
      ['-1', { payload: expiry(-1) }, 400, 'invalid_request'],
      ['-3600', { payload: expiry(-3600) }, 400, 'invalid_request'],
      ['"3600" as a string', { payload: expiry('3600') }, 400, 'invalid_request'],
      ['"null" as a string', { payload: expiry('null') }, 400, 'invalid_request'],
      ['1.5', { payload: expiry(1.5) }, 400, 'invalid_request'],
      ['3600.5', { payload: expiry(3600.5) }, 400, 'invalid_request'],
      ['above the maximum', { payload: expiry(MAX_TOKEN_EXPIRY_SECONDS + 1) }, 400, 'invalid_request'],
      ['1e400', { payload: raw('1e400') }, 400, 'invalid_request'],
      ['true', { payload: expiry(true) }, 400, 'invalid_request'],
      ['an object', { payload: expiry({ seconds: 3600 }) }, 400, 'invalid_request'],
      ['an array', { payload: expiry([3600]) }, 400, 'invalid_request'],
      ['a bad value in a dry run', { payload: expiry(59), query: '?dry_run=true' }, 400, 'invalid_request'],
      [
        'an unknown attribute beside a valid one',
        { payload: jsonApi('instance_settings', { token_expiry_seconds: 3600, rate_limit_seconds: 1000 }) },
        400,
        'invalid_request',
      ],
      [
        'only an unknown attribute',
        { payload: jsonApi('instance_settings', { token_expiry_days: 1 }) },
        400,
        'invalid_request',
      ],
      ['wrong JSON:API type', { payload: jsonApi('user', { token_expiry_seconds: 3600 }) }, 409, 'type_mismatch'],
      ['no type', { payload: { data: { attributes: { token_expiry_seconds: 3600 } } } }, 400, 'invalid_request'],
      ['no data member', { payload: { token_expiry_seconds: 3600 } }, 400, 'invalid_request'],
      ['dry_run=yes', { payload: expiry(3600), query: '?dry_run=yes' }, 400, 'invalid_request'],
      ['malformed JSON', { payload: '{"data": {"type": "instance_settings"' }, 400, 'invalid_json'],
      ['text/plain body', { payload: 'token_expiry_seconds=3600', type: 'text/plain' }, 415, 'unsupported_media_type'],
    ];

    it.each(bad)('%s → %s %s, the setting unchanged', async (_name, { payload, query, type }, status, code) => {
      const { token } = await admin();
      await t.services.settings.update({ token_expiry_seconds: 7200 });
      const res = await t.inject({
        method: 'PATCH',
        url: `${URL}${query ?? ''}`,
        headers: { ...t.bearer(token), 'content-type': type ?? 'application/vnd.api+json' },
        payload: typeof payload === 'string' ? payload : JSON.stringify(payload),
      });
      expect(res.statusCode).toBe(status);
      expect(errorOf(res).code).toBe(code);
      expect(res.headers['content-type']).toMatch(/^application\/vnd\.api\+json/);
      expect(await storedExpiry(t)).toBe(7200);
      expect((await read(token)).json().data.attributes.token_expiry_seconds).toBe(7200);
    });
  });

  describe('expiry', () => {
    it('ends a token at created_at + expiry, shown as expires_at when it is created and listed', async () => {
      const { token: adminToken } = await admin();
      expect((await change(adminToken, expiry(HOUR))).statusCode).toBe(200);

      const { user, token } = await t.userWithToken();
      const created = await t.inject({
        method: 'POST',
        url: '/core/users/me/user_app_tokens',
        headers: t.bearer(token),
        payload: jsonApi('user_app_token', { label: 'short-lived' }),
      });
      expect(created.statusCode).toBe(201);
      const { attributes } = created.json().data;
      const expiresAt = new Date(Date.parse(attributes.created_at) + HOUR * 1000).toISOString();
      expect(attributes.expires_at).toBe(expiresAt);

      const list = await t.inject({
        method: 'GET',
        url: `/core/users/${user.id}/user_app_tokens`,
        headers: t.bearer(adminToken),
      });
      expect(list.statusCode).toBe(200);
      for (const item of list.json().data) {
        expect(item.attributes.expires_at).toBe(
          new Date(Date.parse(item.attributes.created_at) + HOUR * 1000).toISOString(),
        );
      }

      t.clock.advance(HOUR - 1);
      expect((await me(attributes.token)).statusCode).toBe(200);
      t.clock.advance(1);
      expect(t.clock.now().toISOString()).toBe(expiresAt);
      expectExpired(await me(attributes.token));
      expectExpired(await me(token));
      // Not deleted: turning expiry off brings it back.
      expect(await t.services.settings.update({ token_expiry_seconds: null })).toEqual({
        token_expiry_seconds: null,
        rate_limit_per_minute: 60,
      });
      expect((await me(attributes.token)).statusCode).toBe(200);
    });
  });

  describe('impact of an expiry change (rule 7)', () => {
    // A separate app, so the counts see only this scenario's tokens.
    const s = useTestApp(dialect);
    const sh = helpers(s);

    afterEach(async () => {
      await s.services.settings.update({ token_expiry_seconds: null });
    });

    it('previews, then applies, a shorter expiry: old tokens end at once, younger ones keep working', async () => {
      const E = 14 * DAY;
      const [a, b, c, d, e, z] = await Promise.all([1, 2, 3, 4, 5, 6].map(() => s.createUser(['developer'])));
      if (!a || !b || !c || !d || !e || !z) throw new Error('users');

      // Token ages at the moment of the change ("now" is day 30), and what a 14-day expiry does to them.
      const a1 = await s.createToken(a.id, 'a1'); // day 0: 30 days old → expires now
      const z1 = await s.createToken(z.id, 'z1'); // day 0, but its user is archived: never counted
      s.clock.advance(10 * DAY);
      const b1 = await s.createToken(b.id, 'b1'); // day 10: 20 days old → now
      s.clock.advance(6 * DAY);
      const a2 = await s.createToken(a.id, 'a2'); // day 16: exactly 14 days old → now (expires_at = now)
      s.clock.advance(4 * DAY);
      const d1 = await s.createToken(d.id, 'd1'); // day 20: expires in 4 days → within 7 days
      s.clock.advance(DAY);
      const d2 = await s.createToken(d.id, 'd2'); // day 21: expires in 5 days → within 7 days
      s.clock.advance(2 * DAY);
      const a3 = await s.createToken(a.id, 'a3'); // day 23: expires in exactly 7 days → within 7 days
      s.clock.advance(1);
      const e1 = await s.createToken(e.id, 'e1'); // day 23 + 1 s: expires in 7 days + 1 s → not yet
      s.clock.advance(DAY - 1);
      const c1 = await s.createToken(c.id, 'c1'); // day 24: 6 days old → not yet
      s.clock.advance(6 * DAY);
      const { user: adminUser, token: adminToken } = await s.userWithToken(['global_admin', 'developer']); // day 30
      // A token row of an archived user (e.g. one issued while the archive ran): not a live token.
      await s.db
        .updateTable('users')
        .set({ archived_at: s.clock.now().toISOString() })
        .where('id', '=', z.id)
        .execute();

      const all = { a1, b1, a2, d1, d2, a3, e1, c1, adminToken };
      for (const [name, token] of Object.entries(all)) expect((await sh.me(token)).statusCode, name).toBe(200);

      // Lengthening or turning off ends nothing while expiry is off.
      for (const value of [null, 60 * DAY]) {
        const preview = await sh.change(adminToken, expiry(value), '?dry_run=true');
        expect(preview.statusCode).toBe(200);
        expect(preview.json().meta.impact, String(value)).toEqual(noImpact);
      }

      const expected = {
        tokens_expiring_now: 3, // a1, b1, a2
        users_affected_now: 2, // a, b
        tokens_expiring_within_7_days: 3, // d1, d2, a3
        users_affected_within_7_days: 2, // d, a
      };
      const preview = await sh.change(adminToken, expiry(E), '?dry_run=true');
      expect(preview.statusCode).toBe(200);
      expect(preview.json()).toMatchObject({
        data: { attributes: { token_expiry_seconds: E } },
        meta: { dry_run: true, impact: expected },
      });
      // Nothing saved: the setting, the tokens and their lists are as before.
      expect(await storedExpiry(s)).toBeUndefined();
      expect((await sh.read(adminToken)).json().data.attributes.token_expiry_seconds).toBeNull();
      for (const [name, token] of Object.entries(all)) expect((await sh.me(token)).statusCode, name).toBe(200);

      const saved = await sh.change(adminToken, expiry(E));
      expect(saved.statusCode).toBe(200);
      expect(saved.json()).toMatchObject({
        data: { attributes: { token_expiry_seconds: E } },
        meta: { dry_run: false, impact: expected },
      });
      expect(await storedExpiry(s)).toBe(E);

      // The very next request: too-old tokens fail, younger ones work.
      for (const token of [a1, b1, a2]) expectExpired(await sh.me(token));
      for (const [name, token] of Object.entries({ d1, d2, a3, e1, c1, adminToken })) {
        expect((await sh.me(token)).statusCode, name).toBe(200);
      }
      expect((await sh.me(z1)).statusCode).toBe(401);

      // expires_at = created_at + expiry wherever tokens are listed, for the caller and for an admin.
      const listOf = async (userId: string, token: string) => {
        const res = await s.inject({
          method: 'GET',
          url: `/core/users/${userId}/user_app_tokens`,
          headers: s.bearer(token),
        });
        expect(res.statusCode).toBe(200);
        return res.json().data as Array<{
          attributes: { label: string; created_at: string; expires_at: string | null };
        }>;
      };
      const ofA = await listOf(a.id, adminToken);
      expect(ofA.map((i) => i.attributes.label).sort()).toEqual(['a1', 'a2', 'a3']);
      const ownList = await listOf('me', c1);
      for (const item of [...ofA, ...ownList, ...(await listOf(adminUser.id, adminToken))]) {
        expect(item.attributes.expires_at, item.attributes.label).toBe(
          new Date(Date.parse(item.attributes.created_at) + E * 1000).toISOString(),
        );
      }
      expect(ofA.find((i) => i.attributes.label === 'a2')?.attributes.expires_at).toBe(s.clock.now().toISOString());

      // A further change counts only tokens that still work under the current setting.
      const tighter = await sh.change(adminToken, expiry(7 * DAY), '?dry_run=true');
      expect(tighter.json().meta.impact).toEqual({
        tokens_expiring_now: 3, // d1, d2, a3
        users_affected_now: 2, // d, a
        tokens_expiring_within_7_days: 3, // e1, c1, the admin's
        users_affected_within_7_days: 3, // e, c, admin
      });
      expect(await storedExpiry(s)).toBe(E);

      // Time passes: each token fails once now reaches its expires_at.
      s.clock.advance(4 * DAY);
      expectExpired(await sh.me(d1));
      expect((await sh.me(d2)).statusCode).toBe(200);
      s.clock.advance(3 * DAY - 1);
      expect((await sh.me(a3)).statusCode).toBe(200);
      s.clock.advance(1);
      expectExpired(await sh.me(a3));
      expectExpired(await sh.me(d2));
      expect((await sh.me(e1)).statusCode).toBe(200);
      s.clock.advance(1);
      expectExpired(await sh.me(e1));
      expect((await sh.me(c1)).statusCode).toBe(200);
      expect((await sh.me(adminToken)).statusCode).toBe(200);

      // Turning expiry off: computed at request time, nothing was deleted, so every token works again.
      const off = await sh.change(adminToken, expiry(null));
      expect(off.statusCode).toBe(200);
      expect(off.json().meta).toEqual({ dry_run: false, impact: noImpact });
      for (const [name, token] of Object.entries(all)) expect((await sh.me(token)).statusCode, name).toBe(200);
      for (const item of await listOf(a.id, adminToken)) expect(item.attributes.expires_at).toBeNull();
      expect((await sh.me(z1)).statusCode).toBe(401);
    });
  });
});
