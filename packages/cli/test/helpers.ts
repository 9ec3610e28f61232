import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { buildApp, loadConfig, openRuntime, type Runtime } from '@gatehouse/server';
import { afterAll } from 'vitest';
import { run } from '../src/main.js';

export interface Result {
  code: number;
  stdout: string;
  stderr: string;
  /** Standard output split into lines, without the final empty one. */
  lines: string[];
}

/** Runs `gatehouse` in-process against `env`, collecting both streams. */
export async function gatehouse(env: NodeJS.ProcessEnv, ...argv: string[]): Promise<Result> {
  let stdout = '';
  let stderr = '';
  const code = await run(argv, {
    stdout: { write: (s: string) => (stdout += s) },
    stderr: { write: (s: string) => (stderr += s) },
    env,
  });
  return { code, stdout, stderr, lines: stdout === '' ? [] : stdout.replace(/\n$/, '').split('\n') };
}

/**
 * A temporary SQLite data folder for one test file, removed afterwards. The environment holds
 * only GATEHOUSE_DATA_DIR, so a DATABASE_URL set for the server's tests does not reach the CLI.
 */
export function useDataDir(): { dir: string; env: NodeJS.ProcessEnv; gh: (...argv: string[]) => Promise<Result> } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gatehouse-cli-'));
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));
  const env = { GATEHOUSE_DATA_DIR: dir };
  return { dir, env, gh: (...argv) => gatehouse(env, ...argv) };
}

let counter = 0;
/** A fresh email for each user a test creates. */
export const email = (name = 'user'): string => `${name}-${process.pid}-${++counter}@example.test`;

/** Opens the same database as the CLI, with the HTTP app built on it, to check what a command did. */
export async function withApp<T>(
  env: NodeJS.ProcessEnv,
  work: (app: Awaited<ReturnType<typeof buildApp>>, runtime: Runtime) => Promise<T>,
): Promise<T> {
  const runtime = await openRuntime(loadConfig(env));
  const app = await buildApp(
    { logLevel: 'silent', cookieSecure: false, sessionTtlSeconds: 3600, redisUrl: null, trustedProxies: [] },
    { services: runtime.services, ping: runtime.ping, logDestination: { write: () => {} } },
  );
  try {
    await app.ready();
    return await work(app, runtime);
  } finally {
    await app.close();
    await runtime.close();
  }
}

/** The status of `GET /core/users/me` with the token, and the caller's email when it succeeded. */
export async function whoAmI(env: NodeJS.ProcessEnv, token: string): Promise<{ status: number; email?: string }> {
  return withApp(env, async (app) => {
    const response = await app.inject({
      method: 'GET',
      url: '/core/users/me',
      headers: { authorization: `Bearer ${token}` },
    });
    if (response.statusCode !== 200) return { status: response.statusCode };
    const body = response.json() as { data: { attributes: { email: string } } };
    return { status: 200, email: body.data.attributes.email };
  });
}

/** The per-minute limit the server applies to a request made with the token (its X-RateLimit-Limit). */
export async function limitOf(env: NodeJS.ProcessEnv, token: string): Promise<number> {
  return withApp(env, async (app) => {
    const response = await app.inject({
      method: 'GET',
      url: '/core/users/me',
      headers: { authorization: `Bearer ${token}` },
    });
    if (response.statusCode !== 200) throw new Error(`GET /core/users/me answered ${response.statusCode}`);
    return Number(response.headers['x-ratelimit-limit']);
  });
}

export const TOKEN_LINE = /^[0-9a-f]{48}$/;
