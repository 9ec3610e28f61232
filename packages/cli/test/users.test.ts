import { loadConfig, openRuntime } from '@gatehouse/server';
import { describe, expect, it } from 'vitest';
import { email, limitOf, TOKEN_LINE, useDataDir, whoAmI, withApp } from './helpers.js';

const PASSWORD = 'correct horse battery staple';

describe('gatehouse users', () => {
  const { env, gh } = useDataDir();

  /** Signs in through the real login route and returns the status. */
  const signIn = (address: string, password: string) =>
    withApp(env, async (app) => {
      const response = await app.inject({ method: 'POST', url: '/auth/login', payload: { email: address, password } });
      return response.statusCode;
    });

  const userOf = async (address: string) => {
    const runtime = await openRuntime(loadConfig(env));
    try {
      return await runtime.services.users.findByEmail(address);
    } finally {
      await runtime.close();
    }
  };
  const rolesOf = async (address: string) => (await userOf(address))?.roles;
  const rateLimitOf = async (address: string) => (await userOf(address))?.rate_limit_per_minute;

  describe('create', () => {
    it('creates a user with roles and a password, printing only its id', async () => {
      const address = email('dev');
      const result = await gh(
        'users',
        'create',
        '--email',
        address,
        '--role',
        'developer',
        '--role',
        'global_user_admin',
        '--password',
        PASSWORD,
        '--first-name',
        'Ada',
        '--last-name',
        'Lovelace',
      );
      expect(result.code).toBe(0);
      expect(result.lines).toHaveLength(1);
      expect(result.lines[0]).toMatch(/^[0-9a-f-]{36}$/);
      expect(result.stderr).toContain(`Created user ${address}`);
      expect(result.stderr).not.toContain('cannot sign in');
      expect(result.stdout + result.stderr).not.toContain(PASSWORD);
      expect(await rolesOf(address)).toEqual(['developer', 'global_user_admin']);
      expect(await signIn(address, PASSWORD)).toBe(200);
    });

    it('says that a user without a password cannot sign in', async () => {
      const address = email('nopass');
      const result = await gh('users', 'create', '--email', address);
      expect(result.code).toBe(0);
      expect(result.lines).toHaveLength(1);
      expect(result.stderr).toContain('cannot sign in to the web app');
      expect(result.stderr).toContain(`gatehouse users set-password --email ${address}`);
      expect(await rolesOf(address)).toEqual([]);
    });

    it('refuses a duplicate email, a bad email and a short password with exit 1', async () => {
      const address = email('dup');
      expect((await gh('users', 'create', '--email', address)).code).toBe(0);

      const dup = await gh('users', 'create', '--email', address.toUpperCase());
      expect(dup).toMatchObject({ code: 1, stdout: '' });
      expect(dup.stderr).toBe('error: A user with this email already exists. (conflict)\n');

      const bad = await gh('users', 'create', '--email', 'not-an-email');
      expect(bad).toMatchObject({ code: 1, stdout: '' });
      expect(bad.stderr).toContain('is not an email address');

      const short = await gh('users', 'create', '--email', email(), '--password', 'hunter2');
      expect(short).toMatchObject({ code: 1, stdout: '' });
      expect(short.stderr).toContain('12 to 1024 characters');
      expect(short.stderr).not.toContain('hunter2');
    });
  });

  describe('set-password', () => {
    it('generates a password, prints it alone on stdout, and it signs in', async () => {
      const address = email('gen');
      await gh('users', 'create', '--email', address);
      const result = await gh('users', 'set-password', '--email', address);
      expect(result.code).toBe(0);
      expect(result.lines).toHaveLength(1);
      const [password] = result.lines;
      expect(password).toMatch(/^[A-Za-z0-9]{20}$/);
      expect(result.stderr).toContain('not shown again');
      expect(await signIn(address, String(password))).toBe(200);
    });

    it('sets a given password, ends the web sessions and prints nothing secret', async () => {
      const address = email('given');
      await gh('users', 'create', '--email', address, '--password', PASSWORD);
      expect(await signIn(address, PASSWORD)).toBe(200);

      const next = 'another long passphrase';
      const result = await gh('users', 'set-password', '--email', address, '--password', next);
      expect(result.code).toBe(0);
      expect(result.stdout).toBe('');
      expect(result.stderr).toContain('ended 1 web session');
      expect(result.stderr).not.toContain(next);
      expect(await signIn(address, PASSWORD)).toBe(401);
      expect(await signIn(address, next)).toBe(200);
    });

    it('fails with exit 1 for an unknown email or a short password', async () => {
      const unknown = await gh('users', 'set-password', '--email', 'nobody@example.test');
      expect(unknown).toMatchObject({ code: 1, stdout: '' });
      expect(unknown.stderr).toBe('error: No user has the email "nobody@example.test".\n');

      const address = email('short');
      await gh('users', 'create', '--email', address);
      const short = await gh('users', 'set-password', '--email', address, '--password', 'tiny');
      expect(short).toMatchObject({ code: 1, stdout: '' });
      expect(short.stderr).not.toContain('tiny');
    });
  });

  describe('roles', () => {
    it('replaces the roles, and --none removes them all', async () => {
      const address = email('roles');
      await gh('users', 'create', '--email', address, '--role', 'developer');
      const set = await gh('users', 'roles', '--email', address, '--role', 'global_admin', '--role', 'developer');
      expect(set.code).toBe(0);
      expect(set.stdout).toContain('now has roles developer, global_admin (before: roles developer)');
      expect(await rolesOf(address)).toEqual(['developer', 'global_admin']);

      const none = await gh('users', 'roles', '--email', address, '--none');
      expect(none.code).toBe(0);
      expect(await rolesOf(address)).toEqual([]);
    });

    it('takes effect on the next request of an existing token', async () => {
      const address = email('rolechange');
      await gh('users', 'create', '--email', address, '--role', 'developer');
      const token = (await gh('tokens', 'create', '--email', address, '--label', 'ci')).lines.at(-1) ?? '';
      expect(token).toMatch(TOKEN_LINE);
      expect((await whoAmI(env, token)).status).toBe(200);
      await gh('users', 'roles', '--email', address, '--none');
      expect((await whoAmI(env, token)).status).toBe(403);
      await gh('users', 'roles', '--email', address, '--role', 'developer');
      expect((await whoAmI(env, token)).status).toBe(200);
    });

    it('needs --role or --none, not both and not neither, and a known user', async () => {
      const address = email('rolesargs');
      await gh('users', 'create', '--email', address);
      const neither = await gh('users', 'roles', '--email', address);
      expect(neither).toMatchObject({ code: 2, stdout: '' });
      expect(neither.stderr).toContain('give at least one --role');
      const both = await gh('users', 'roles', '--email', address, '--none', '--role', 'developer');
      expect(both.code).toBe(2);
      const unknown = await gh('users', 'roles', '--email', 'ghost@example.test', '--role', 'developer');
      expect(unknown).toMatchObject({ code: 1, stderr: 'error: No user has the email "ghost@example.test".\n' });
    });
  });

  describe('rate-limit', () => {
    it("sets the user's own limit, prints the limit that applies, and the next request uses it", async () => {
      const address = email('limit');
      await gh('users', 'create', '--email', address, '--role', 'developer');
      const token = (await gh('tokens', 'create', '--email', address, '--label', 'ci')).lines.at(-1) ?? '';
      expect(await rateLimitOf(address)).toBeNull();
      expect(await limitOf(env, token)).toBe(60);

      const result = await gh('users', 'rate-limit', '--email', address, '--limit', '600');
      expect(result).toMatchObject({ code: 0, stderr: '' });
      expect(result.lines).toEqual([
        `${address} now has 600 requests per minute, its own limit (before: 60 requests per minute, the instance default).`,
      ]);
      expect(await rateLimitOf(address)).toBe(600);
      expect(await limitOf(env, token)).toBe(600);

      const same = await gh('users', 'rate-limit', '--email', address, '--limit', '600');
      expect(same).toMatchObject({
        code: 0,
        stdout: `${address} already has 600 requests per minute, its own limit; nothing changed.\n`,
      });

      const one = await gh('users', 'rate-limit', '--email', address, '--limit', '1');
      expect(one.stdout).toContain('now has 1 request per minute, its own limit (before: 600 requests per minute');
      expect(await rateLimitOf(address)).toBe(1);
    });

    it('"default" clears the own limit, so the instance default applies again', async () => {
      const address = email('default');
      await gh('users', 'create', '--email', address, '--role', 'developer');
      const token = (await gh('tokens', 'create', '--email', address, '--label', 'ci')).lines.at(-1) ?? '';
      await gh('users', 'rate-limit', '--email', address, '--limit', '100000');
      expect(await limitOf(env, token)).toBe(100_000);

      const cleared = await gh('users', 'rate-limit', '--email', address, '--limit', 'default');
      expect(cleared).toMatchObject({ code: 0, stderr: '' });
      expect(cleared.lines).toEqual([
        `${address} now has 60 requests per minute, the instance default (before: 100000 requests per minute, its own limit).`,
      ]);
      expect(await rateLimitOf(address)).toBeNull();
      expect(await limitOf(env, token)).toBe(60);

      const again = await gh('users', 'rate-limit', '--email', address, '--limit', 'DEFAULT');
      expect(again).toMatchObject({
        code: 0,
        stdout: `${address} already has 60 requests per minute, the instance default; nothing changed.\n`,
      });
    });

    it('refuses a bad limit with exit 1 and leaves the user as it was', async () => {
      const address = email('badlimit');
      await gh('users', 'create', '--email', address);
      await gh('users', 'rate-limit', '--email', address, '--limit', '250');
      for (const bad of ['0', '100001', 'abc', '1.5', '1e3', ' 60', 'off', '']) {
        const result = await gh('users', 'rate-limit', '--email', address, '--limit', bad);
        expect(result).toMatchObject({ code: 1, stdout: '' });
        expect(result.stderr).toBe(
          'error: --limit must be "default" or a whole number of requests per minute from 1 to 100000. (invalid_request)\n',
        );
      }
      expect(await rateLimitOf(address)).toBe(250);

      const missing = await gh('users', 'rate-limit', '--email', address);
      expect(missing).toMatchObject({ code: 2, stdout: '' });
      expect(missing.stderr).toContain("required option '--limit <limit>' not specified");
      expect(await rateLimitOf(address)).toBe(250);
    });

    it('fails with exit 1 for an unknown email', async () => {
      const result = await gh('users', 'rate-limit', '--email', 'ghost@example.test', '--limit', '100');
      expect(result).toMatchObject({
        code: 1,
        stdout: '',
        stderr: 'error: No user has the email "ghost@example.test".\n',
      });
      expect(await userOf('ghost@example.test')).toBeUndefined();
    });
  });

  describe('archive', () => {
    it('archives the user and revokes their tokens for good; a second archive changes nothing', async () => {
      const address = email('archive');
      await gh('users', 'create', '--email', address, '--role', 'developer');
      const token = (await gh('tokens', 'create', '--email', address, '--label', 'bot')).lines.at(-1) ?? '';
      expect((await whoAmI(env, token)).status).toBe(200);

      const result = await gh('users', 'archive', '--email', address);
      expect(result.code).toBe(0);
      expect(result.stdout).toContain(`Archived ${address}: revoked 1 token`);
      expect((await whoAmI(env, token)).status).toBe(401);
      expect((await gh('tokens', 'list', '--email', address)).stdout).toContain('has no tokens');

      const again = await gh('users', 'archive', '--email', address);
      expect(again.code).toBe(0);
      expect(again.stdout).toContain('already archived');

      const limited = await gh('users', 'rate-limit', '--email', address, '--limit', '30');
      expect(limited.code).toBe(0);
      expect(limited.stdout).toContain('now has 30 requests per minute, its own limit');
      expect(limited.stderr).toContain('The user is archived');
    });

    it('fails with exit 1 for an unknown email', async () => {
      const result = await gh('users', 'archive', '--email', 'ghost@example.test');
      expect(result).toMatchObject({ code: 1, stdout: '' });
    });
  });
});
