import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { gatehouse, useDataDir } from './helpers.js';

describe('gatehouse migrate', () => {
  const { dir, gh } = useDataDir();

  it('runs the migrations on a fresh database and prints them, then finds nothing to do', async () => {
    const first = await gh('migrate');
    expect(first.code).toBe(0);
    expect(first.lines).toEqual([
      `Database: ${path.join(dir, 'gatehouse.sqlite')}`,
      'Ran 3 migrations:',
      '  2026-12-03-initial',
      '  2026-12-03-rate-limits',
      '  2026-12-03-token-change-notifications',
    ]);

    const second = await gh('migrate');
    expect(second.code).toBe(0);
    expect(second.stdout).toContain('Already up to date');
    expect(second.stdout).not.toContain('2026-12-03-');
  });
});

describe('gatehouse usage', () => {
  const { gh } = useDataDir();

  it('prints help with --help and exits 0', async () => {
    const result = await gh('--help');
    expect(result.code).toBe(0);
    expect(result.stdout).toContain('Usage: gatehouse');
    for (const command of ['serve', 'migrate', 'users', 'tokens', 'settings']) expect(result.stdout).toContain(command);
    expect(result.stderr).toBe('');

    const sub = await gh('tokens', 'create', '--help');
    expect(sub.code).toBe(0);
    expect(sub.stdout).toContain('--label <label>');
  });

  it('prints the version', async () => {
    const result = await gh('--version');
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/^\d+\.\d+\.\d+\n$/);
  });

  it('exits 2 with help on stderr when no command is given', async () => {
    const result = await gh();
    expect(result.code).toBe(2);
    expect(result.stdout).toBe('');
    expect(result.stderr).toContain('Usage: gatehouse');
  });

  it.each([
    [['bogus'], "unknown command 'bogus'"],
    [['users', 'create'], "required option '--email <email>' not specified"],
    [['tokens', 'list', '--email', 'a@example.test', '--colour'], "unknown option '--colour'"],
    [['migrate', 'now'], 'too many arguments'],
    [['settings', 'set', 'token_expiry_seconds'], "missing required argument 'value'"],
    [['users', 'create', '--email', 'a@example.test', '--role', 'root'], 'Unknown role; choose from'],
  ])('exits 2 with one clear message for %j', async (argv, message) => {
    const result = await gh(...argv);
    expect(result.code).toBe(2);
    expect(result.stdout).toBe('');
    expect(result.stderr).toContain(message);
    expect(result.stderr.trim().split('\n')).toHaveLength(1);
  });

  it('exits 78 and names the problem when the configuration is invalid', async () => {
    const result = await gatehouse({ DATABASE_URL: 'mysql://db.example.test/gatehouse' }, 'migrate');
    expect(result.code).toBe(78);
    expect(result.stdout).toBe('');
    expect(result.stderr).toContain('DATABASE_URL must be a postgres:// or postgresql:// URL');
  });
});
