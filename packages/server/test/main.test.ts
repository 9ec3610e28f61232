import { type ChildProcess, spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';

const MAIN = path.resolve(import.meta.dirname, '../dist/main.js');
const children: ChildProcess[] = [];

/** Starts the built server as `npm start` does and resolves once it listens (or exits). */
function start(
  env: Record<string, string>,
): Promise<{ child: ChildProcess; stdout: string; stderr: string; code: number | null }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [MAIN], {
      env: { PATH: process.env.PATH ?? '', HOST: '127.0.0.1', PORT: '0', LOG_LEVEL: 'info', ...env },
    });
    children.push(child);
    let stdout = '';
    let stderr = '';
    const timer = setTimeout(() => reject(new Error(`server did not start:\n${stdout}\n${stderr}`)), 20_000);
    child.stdout.on('data', (d) => {
      stdout += d;
      if (stdout.includes('Gatehouse is listening')) {
        clearTimeout(timer);
        resolve({ child, stdout, stderr, code: null });
      }
    });
    child.stderr.on('data', (d) => {
      stderr += d;
    });
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolve({ child, stdout, stderr, code });
    });
  });
}

const stop = (child: ChildProcess) =>
  new Promise<number | null>((resolve) => {
    child.once('exit', (code) => resolve(code));
    child.kill('SIGTERM');
  });

const addressOf = (stdout: string): string => {
  const match = /"address":"(http:\/\/127\.0\.0\.1:\d+)"/.exec(stdout);
  if (match?.[1] === undefined) throw new Error(`no address in ${stdout}`);
  return match[1];
};

afterEach(() => {
  for (const child of children.splice(0)) if (child.exitCode === null) child.kill('SIGKILL');
});

describe('the built server (npm start)', () => {
  beforeAll(() => {
    if (!fs.existsSync(MAIN)) throw new Error(`${MAIN} is missing: run \`npm run build\` first (npm test does)`);
  });

  it('starts on embedded defaults, prints the first admin password once, and stops cleanly', async () => {
    const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'gatehouse-main-'));
    const first = await start({ GATEHOUSE_DATA_DIR: dataDir });
    expect(first.code).toBeNull();
    const password = /One-time password: (\S+)/.exec(first.stderr)?.[1];
    expect(password).toMatch(/^[A-Za-z0-9]{20}$/);
    const base = addressOf(first.stdout);
    expect(await (await fetch(`${base}/healthz`)).json()).toEqual({ status: 'ok' });
    const login = await fetch(`${base}/auth/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ email: 'admin@gatehouse.local', password }),
    });
    expect(login.status).toBe(200);
    expect(fs.existsSync(path.join(dataDir, 'gatehouse.sqlite'))).toBe(true);
    expect(first.stderr.split('\n').filter((l) => l.includes(String(password)))).toHaveLength(1);
    expect(first.stdout).not.toContain(String(password));
    expect(await stop(first.child)).toBe(0);

    const second = await start({ GATEHOUSE_DATA_DIR: dataDir });
    expect(second.stderr).not.toContain('One-time password');
    await stop(second.child);
    fs.rmSync(dataDir, { recursive: true, force: true });
  });

  it('creates the configured admin with global_admin and developer', async () => {
    const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'gatehouse-main-'));
    const started = await start({
      GATEHOUSE_DATA_DIR: dataDir,
      GATEHOUSE_ADMIN_EMAIL: 'ops@example.test',
      GATEHOUSE_ADMIN_PASSWORD: 'correct horse battery staple',
    });
    expect(started.stdout).not.toContain('One-time password');
    const login = await fetch(`${addressOf(started.stdout)}/auth/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ email: 'OPS@example.test', password: 'correct horse battery staple' }),
    });
    expect(login.status).toBe(200);
    const body = (await login.json()) as { data: { attributes: { roles: string[] } } };
    expect(body.data.attributes.roles).toEqual(['developer', 'global_admin']);
    expect(started.stdout).not.toContain('correct horse battery staple');
    await stop(started.child);
    fs.rmSync(dataDir, { recursive: true, force: true });
  });

  it('refuses to start on bad configuration with one line per problem', async () => {
    const result = await start({ PORT: 'abc', LOG_LEVEL: 'shouty' });
    expect(result.code).toBe(78);
    expect(result.stderr).toContain('PORT must be a whole number');
    expect(result.stderr).toContain('LOG_LEVEL must be one of');
  });
});
