import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { email, TOKEN_LINE, useDataDir, whoAmI } from './helpers.js';

describe('gatehouse tokens', () => {
  const { dir, env, gh } = useDataDir();

  async function developer(): Promise<string> {
    const address = email('dev');
    expect((await gh('users', 'create', '--email', address, '--role', 'developer')).code).toBe(0);
    return address;
  }

  async function createToken(address: string, label = 'nightly CI'): Promise<string> {
    const result = await gh('tokens', 'create', '--email', address, '--label', label);
    expect(result.code).toBe(0);
    return result.lines.at(-1) ?? '';
  }

  describe('create', () => {
    it('prints the token alone as the last line of stdout, and the token authenticates', async () => {
      const address = await developer();
      const result = await gh('tokens', 'create', '--email', address, '--label', 'nightly CI');
      expect(result.code).toBe(0);
      const token = result.lines.at(-1) ?? '';
      expect(token).toMatch(TOKEN_LINE);
      expect(result.stderr).toContain('Created token "nightly CI"');
      expect(result.stderr).toContain('shown only this once');
      expect(result.stderr).not.toContain(token);
      expect(await whoAmI(env, token)).toEqual({ status: 200, email: address });
    });

    it('never stores the token in plaintext', async () => {
      const token = await createToken(await developer());
      const files = fs.readdirSync(dir).filter((f) => f.startsWith('gatehouse.sqlite'));
      expect(files.length).toBeGreaterThan(0);
      for (const file of files) expect(fs.readFileSync(path.join(dir, file)).toString('latin1')).not.toContain(token);
    });

    it('refuses users whose token could not work, with exit 1', async () => {
      const unknown = await gh('tokens', 'create', '--email', 'ghost@example.test', '--label', 'x');
      expect(unknown).toMatchObject({
        code: 1,
        stdout: '',
        stderr: 'error: No user has the email "ghost@example.test".\n',
      });

      const plain = email('plain');
      await gh('users', 'create', '--email', plain, '--role', 'global_user_admin');
      const noRole = await gh('tokens', 'create', '--email', plain, '--label', 'x');
      expect(noRole).toMatchObject({ code: 1, stdout: '' });
      expect(noRole.stderr).toContain('does not have the developer role');
      expect(noRole.stderr).toContain(`--role global_user_admin --role developer`);

      const archived = await developer();
      await gh('users', 'archive', '--email', archived);
      const gone = await gh('tokens', 'create', '--email', archived, '--label', 'x');
      expect(gone).toMatchObject({ code: 1, stdout: '' });
      expect(gone.stderr).toContain('is archived');
    });

    it('needs a label: missing is a usage error (2), blank is refused by the service (1)', async () => {
      const address = await developer();
      const missing = await gh('tokens', 'create', '--email', address);
      expect(missing).toMatchObject({ code: 2, stdout: '' });
      expect(missing.stderr).toContain("required option '--label <label>' not specified");

      const blank = await gh('tokens', 'create', '--email', address, '--label', '   ');
      expect(blank).toMatchObject({ code: 1, stdout: '' });
      expect(blank.stderr).toBe('error: A label of 1 to 100 characters is required. (invalid_request)\n');
    });
  });

  describe('list', () => {
    it('shows id, label, hint and dates in a table, never the token', async () => {
      const address = await developer();
      const first = await createToken(address, 'deploy bot');
      const second = await createToken(address, 'backup\u001b[31m job');
      expect((await whoAmI(env, first)).status).toBe(200);

      const result = await gh('tokens', 'list', '--email', address);
      expect(result.code).toBe(0);
      const [header, ...rows] = result.lines;
      expect(header?.split(/\s+/)).toEqual(['id', 'label', 'hint', 'created_at', 'expires_at', 'last_accessed_at']);
      expect(rows).toHaveLength(2);
      expect(result.stdout).toContain('deploy bot');
      expect(result.stdout).toContain('backup?[31m job');
      expect(result.stdout).not.toContain('\u001b');
      expect(result.stdout).toContain(first.slice(-4));
      for (const token of [first, second]) expect(result.stdout).not.toContain(token);
      const used = rows.find((r) => r.includes('deploy bot'));
      expect(used).toMatch(/never\s+\d{4}-\d\d-\d\dT/);
    });

    it('prints JSON with --json, without tokens or hashes', async () => {
      const address = await developer();
      const token = await createToken(address);
      const result = await gh('tokens', 'list', '--email', address, '--json');
      expect(result.code).toBe(0);
      const rows = JSON.parse(result.stdout) as Record<string, unknown>[];
      expect(rows).toHaveLength(1);
      expect(Object.keys(rows[0] ?? {}).sort()).toEqual(
        ['created_at', 'expires_at', 'hint', 'id', 'label', 'last_accessed_at'].sort(),
      );
      expect(result.stdout).not.toContain(token);
    });

    it('says when there are no tokens, and fails for an unknown email', async () => {
      const address = await developer();
      expect((await gh('tokens', 'list', '--email', address)).stdout).toBe(`${address} has no tokens.\n`);
      const unknown = await gh('tokens', 'list', '--email', 'ghost@example.test');
      expect(unknown).toMatchObject({ code: 1, stdout: '' });
    });
  });

  describe('revoke', () => {
    it('revokes a token, which then fails on its next request', async () => {
      const address = await developer();
      const token = await createToken(address);
      const [listed] = JSON.parse((await gh('tokens', 'list', '--email', address, '--json')).stdout) as {
        id: string;
      }[];
      const id = listed?.id ?? '';

      const result = await gh('tokens', 'revoke', '--email', address, '--id', id);
      expect(result.code).toBe(0);
      expect(result.stdout).toContain(`Revoked token ${id}`);
      expect((await whoAmI(env, token)).status).toBe(401);

      const again = await gh('tokens', 'revoke', '--email', address, '--id', id);
      expect(again).toMatchObject({ code: 1, stdout: '' });
      expect(again.stderr).toContain('has no token with id');
    });

    it("does not revoke another user's token", async () => {
      const owner = await developer();
      const other = await developer();
      const token = await createToken(owner);
      const [listed] = JSON.parse((await gh('tokens', 'list', '--email', owner, '--json')).stdout) as { id: string }[];
      const result = await gh('tokens', 'revoke', '--email', other, '--id', listed?.id ?? '');
      expect(result.code).toBe(1);
      expect((await whoAmI(env, token)).status).toBe(200);
    });

    it('needs --id (usage error 2)', async () => {
      const result = await gh('tokens', 'revoke', '--email', await developer());
      expect(result.code).toBe(2);
      expect(result.stderr).toContain("required option '--id <id>' not specified");
    });
  });
});
