// Setting up the Gatehouse under test through its own operator CLI: the instance rate limit,
// developer users and one token each.
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { run } from './proc.mjs';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const SERVER_MAIN = path.join(ROOT, 'packages/server/dist/main.js');
export const CLI = path.join(ROOT, 'packages/cli/bin/gatehouse.js');

/** High enough that no run trips it: a user's limit is shared by its tokens, so the load is spread over users. */
export const RATE_LIMIT = 100_000;

/**
 * @param {string[]} args
 * @param {NodeJS.ProcessEnv} env
 */
export const cli = (args, env) => run(process.execPath, [CLI, ...args], { env, cwd: ROOT, timeoutMs: 60_000 });

/**
 * Runs `task` over `items`, `width` at a time (each CLI call is a Node start, about a second of CPU).
 * @template T, R
 * @param {T[]} items
 * @param {number} width
 * @param {(item: T, index: number) => Promise<R>} task
 * @returns {Promise<R[]>}
 */
export async function inBatches(items, width, task) {
  /** @type {R[]} */
  const out = [];
  for (let i = 0; i < items.length; i += width) {
    out.push(...(await Promise.all(items.slice(i, i + width).map((item, j) => task(item, i + j)))));
  }
  return out;
}

/**
 * Creates `count` developer users with one token each, and sets the instance limit to RATE_LIMIT.
 * @param {NodeJS.ProcessEnv} env  the server's environment (GATEHOUSE_DATA_DIR or DATABASE_URL)
 * @param {number} count
 * @param {string} runId  keeps the emails unique in a database that outlives the run
 * @returns {Promise<{ emails: string[], tokens: string[], previousRateLimit: string }>}
 */
export async function createDevelopers(env, count, runId) {
  const previousRateLimit = (await cli(['settings', 'get', 'rate_limit_per_minute'], env)).trim();
  await cli(['settings', 'set', 'rate_limit_per_minute', String(RATE_LIMIT)], env);
  const emails = Array.from({ length: count }, (_, i) => `bench-${runId}-${i}@bench.example`);
  const tokens = await inBatches(emails, 2, async (email, i) => {
    await cli(
      ['users', 'create', '--email', email, '--role', 'developer', '--first-name', 'Bench', '--last-name', `User ${i}`],
      env,
    );
    const out = await cli(['tokens', 'create', '--email', email, '--label', `benchmark ${runId}`], env);
    const token = out.trim().split('\n').pop()?.trim() ?? '';
    if (!/^[0-9a-f]{48}$/.test(token)) throw new Error(`tokens create printed no token for ${email}:\n${out}`);
    return token;
  });
  return { emails, tokens, previousRateLimit };
}

/** A well-formed token that no user holds: it costs the server a hash and a look-up. */
export const guessedToken = () => randomBytes(24).toString('hex');
