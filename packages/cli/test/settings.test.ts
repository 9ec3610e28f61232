import { describe, expect, it } from 'vitest';
import { email, limitOf, useDataDir, whoAmI, withApp } from './helpers.js';

describe('gatehouse settings', () => {
  const { env, gh } = useDataDir();

  it('prints every setting, or the raw value of one', async () => {
    const all = await gh('settings', 'get');
    expect(all.code).toBe(0);
    expect(all.lines).toEqual([
      'token_expiry_seconds   null (off: tokens do not expire)',
      'rate_limit_per_minute  60 requests per minute',
    ]);

    const one = await gh('settings', 'get', 'token_expiry_seconds');
    expect(one).toMatchObject({ code: 0, stdout: 'null\n' });
    expect(await gh('settings', 'get', 'rate_limit_per_minute')).toMatchObject({ code: 0, stdout: '60\n' });
  });

  it('refuses an unknown key and a bad value with exit 1, changing nothing', async () => {
    const unknownGet = await gh('settings', 'get', 'rate_limit');
    expect(unknownGet).toMatchObject({ code: 1, stdout: '' });
    expect(unknownGet.stderr).toBe(
      'error: Unknown setting "rate_limit". Known settings: token_expiry_seconds, rate_limit_per_minute.\n',
    );

    const unknownSet = await gh('settings', 'set', 'rate_limit', '100');
    expect(unknownSet).toMatchObject({ code: 1, stdout: '' });

    for (const bad of ['soon', '59', '1.5', '999999999999']) {
      const result = await gh('settings', 'set', 'token_expiry_seconds', bad);
      expect(result).toMatchObject({ code: 1, stdout: '' });
      expect(result.stderr).toContain('token_expiry_seconds must be "null" (off) or a whole number of seconds');
    }
    expect((await gh('settings', 'get', 'token_expiry_seconds')).stdout).toBe('null\n');
  });

  it('shows the impact before saving; --dry-run saves nothing; the new expiry applies at once', async () => {
    const address = email('dev');
    await gh('users', 'create', '--email', address, '--role', 'developer');
    const old = (await gh('tokens', 'create', '--email', address, '--label', 'old')).lines.at(-1) ?? '';
    const fresh = (await gh('tokens', 'create', '--email', address, '--label', 'fresh')).lines.at(-1) ?? '';
    // Make one token two hours old, so a one-hour expiry ends it at once.
    await withApp(env, async (_app, runtime) => {
      const twoHoursAgo = new Date(Date.now() - 2 * 3600 * 1000).toISOString();
      await runtime.database.db
        .updateTable('user_app_tokens')
        .set({ created_at: twoHoursAgo })
        .where('label', '=', 'old')
        .execute();
    });

    const dry = await gh('settings', 'set', 'token_expiry_seconds', '3600', '--dry-run');
    expect(dry.code).toBe(0);
    expect(dry.lines).toEqual([
      'token_expiry_seconds: null (off: tokens do not expire) -> 3600 (1 hour)',
      'Tokens that would stop working at once: 1 (of 1 user)',
      'Tokens that would expire within the next 7 days: 1 (of 1 user)',
      'Dry run: nothing was saved.',
    ]);
    expect((await gh('settings', 'get', 'token_expiry_seconds')).stdout).toBe('null\n');
    expect((await whoAmI(env, old)).status).toBe(200);

    const saved = await gh('settings', 'set', 'token_expiry_seconds', '3600');
    expect(saved.code).toBe(0);
    expect(saved.stdout).toContain('Tokens that would stop working at once: 1 (of 1 user)');
    expect(saved.lines.at(-1)).toBe('Saved.');
    expect((await gh('settings', 'get', 'token_expiry_seconds')).stdout).toBe('3600\n');
    expect((await whoAmI(env, old)).status).toBe(401);
    expect((await whoAmI(env, fresh)).status).toBe(200);
    expect((await gh('tokens', 'list', '--email', address)).stdout).toMatch(/\(expired\)/);

    const same = await gh('settings', 'set', 'token_expiry_seconds', '3600');
    expect(same.stdout).toContain('already 3600 (1 hour); nothing changed');

    const off = await gh('settings', 'set', 'token_expiry_seconds', 'off');
    expect(off.code).toBe(0);
    expect(off.stdout).toContain('-> null (off: tokens do not expire)');
    expect((await gh('settings', 'get', 'token_expiry_seconds')).stdout).toBe('null\n');
    expect((await whoAmI(env, old)).status).toBe(200);
  });

  describe('rate_limit_per_minute', () => {
    it('prints the old and new limit (no token impact); --dry-run saves nothing; the new limit applies at once', async () => {
      const address = email('limited');
      await gh('users', 'create', '--email', address, '--role', 'developer');
      const token = (await gh('tokens', 'create', '--email', address, '--label', 'ci')).lines.at(-1) ?? '';
      expect(await limitOf(env, token)).toBe(60);

      const dry = await gh('settings', 'set', 'rate_limit_per_minute', '120', '--dry-run');
      expect(dry).toMatchObject({ code: 0, stderr: '' });
      expect(dry.lines).toEqual([
        'rate_limit_per_minute: 60 requests per minute -> 120 requests per minute',
        'Users with their own limit keep it (see gatehouse users rate-limit).',
        'Dry run: nothing was saved.',
      ]);
      expect((await gh('settings', 'get', 'rate_limit_per_minute')).stdout).toBe('60\n');

      const saved = await gh('settings', 'set', 'rate_limit_per_minute', '120');
      expect(saved).toMatchObject({ code: 0, stderr: '' });
      expect(saved.lines).toEqual([
        'rate_limit_per_minute: 60 requests per minute -> 120 requests per minute',
        'Users with their own limit keep it (see gatehouse users rate-limit).',
        'Saved.',
      ]);
      expect((await gh('settings', 'get', 'rate_limit_per_minute')).stdout).toBe('120\n');
      expect((await gh('settings', 'get')).lines).toContain('rate_limit_per_minute  120 requests per minute');
      expect(await limitOf(env, token)).toBe(120);

      const same = await gh('settings', 'set', 'rate_limit_per_minute', '120');
      expect(same).toMatchObject({
        code: 0,
        stdout: 'rate_limit_per_minute is already 120 requests per minute; nothing changed.\n',
      });

      for (const edge of ['1', '100000', '60']) {
        expect((await gh('settings', 'set', 'rate_limit_per_minute', edge)).code).toBe(0);
        expect((await gh('settings', 'get', 'rate_limit_per_minute')).stdout).toBe(`${edge}\n`);
      }
    });

    it('refuses a value outside 1..100000 or not a whole number with exit 1, saving nothing', async () => {
      expect((await gh('settings', 'set', 'rate_limit_per_minute', '90')).code).toBe(0);
      for (const bad of ['0', '100001', 'abc', '1.5', '1e3', 'off', 'default', '']) {
        const result = await gh('settings', 'set', 'rate_limit_per_minute', bad);
        expect(result).toMatchObject({ code: 1, stdout: '' });
        expect(result.stderr).toBe(
          'error: rate_limit_per_minute must be a whole number of requests per minute from 1 to 100000. (invalid_request)\n',
        );
        const dry = await gh('settings', 'set', 'rate_limit_per_minute', bad, '--dry-run');
        expect(dry).toMatchObject({ code: 1, stdout: '' });
      }
      expect((await gh('settings', 'get', 'rate_limit_per_minute')).stdout).toBe('90\n');
      expect((await gh('settings', 'get', 'token_expiry_seconds')).stdout).toBe('null\n');
    });
  });
});
