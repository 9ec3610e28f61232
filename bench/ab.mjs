// Side-by-side comparison of Gatehouse (SQLite) under different settings, for hot-path work:
//   node bench/ab.mjs --variant 'cache on:' --variant 'cache off:GATEHOUSE_CREDENTIAL_CACHE_SIZE=0' [--limit]
// --guesses sends unknown tokens (one address: blocked after 30); add --many-addresses to send
// each request from a new X-Forwarded-For address (so every guess is looked up and answered 401).
// --postgres runs every variant on PostgreSQL + Redis (DATABASE_URL and REDIS_URL, a throwaway
// database: its benchmark users are archived again at the end).
// A setting `main=<path>` runs another build (e.g. a `git worktree` of an earlier commit, built).
// Each variant is its own server process on one shared data folder; the runs are interleaved so
// drift on a shared machine hits every variant alike. Prints medians and ratios to the first variant.
// Build first (npm run build).
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { cli, createDevelopers, guessedToken, inBatches, ROOT, SERVER_MAIN } from './lib/gatehouse.mjs';
import { measure } from './lib/measure.mjs';
import { killAll, launchServer, sleep } from './lib/proc.mjs';
import { median } from './lib/report.mjs';

const { values: args } = parseArgs({
  options: {
    variant: { type: 'string', multiple: true, default: [] },
    limit: { type: 'boolean', default: false },
    guesses: { type: 'boolean', default: false },
    'many-addresses': { type: 'boolean', default: false },
    postgres: { type: 'boolean', default: false },
    duration: { type: 'string', default: '5' },
    reps: { type: 'string', default: '3' },
    connections: { type: 'string', default: '50' },
  },
});
const DURATION = Math.min(60, Math.max(1, Number(args.duration)));
const REPS = Math.min(10, Math.max(1, Number(args.reps)));
const CONNECTIONS = Math.min(500, Math.max(1, Number(args.connections)));
/** @type {{ name: string, env: Record<string, string> }[]} */
const variants = (args.variant ?? []).map((spec) => {
  const [name = '', settings = ''] = spec.split(/:(.*)/s);
  const env = Object.fromEntries(
    settings
      .split(',')
      .filter((kv) => kv.includes('='))
      .map((kv) => /** @type {[string, string]} */ (kv.split(/=(.*)/s).slice(0, 2))),
  );
  return { name: name.trim() || `variant ${spec}`, env };
});
if (variants.length === 0) variants.push({ name: 'as built', env: {} });

const watchdog = setTimeout(
  () => {
    killAll();
    process.exit(1);
  },
  (120 + (variants.length + 1) * REPS * (DURATION + 3)) * 1000,
);
watchdog.unref();

const work = fs.mkdtempSync(path.join(os.tmpdir(), 'gatehouse-ab-'));
const baseEnv = {
  ...process.env,
  NODE_ENV: 'production',
  LOG_LEVEL: 'info',
  HOST: '127.0.0.1',
  GATEHOUSE_DATA_DIR: path.join(work, 'data'),
  GATEHOUSE_ADMIN_EMAIL: 'bench-admin@bench.example',
  GATEHOUSE_ADMIN_PASSWORD: 'bench-admin-password',
};
if (args.postgres) {
  if (!process.env.DATABASE_URL || !process.env.REDIS_URL)
    throw new Error('--postgres needs DATABASE_URL and REDIS_URL');
  // The first administrator exists already in a database used before.
  delete (/** @type {NodeJS.ProcessEnv} */ (baseEnv).GATEHOUSE_ADMIN_EMAIL);
  delete (/** @type {NodeJS.ProcessEnv} */ (baseEnv).GATEHOUSE_ADMIN_PASSWORD);
} else {
  delete (/** @type {NodeJS.ProcessEnv} */ (baseEnv).DATABASE_URL);
  delete (/** @type {NodeJS.ProcessEnv} */ (baseEnv).REDIS_URL);
}

/** @param {string} name @param {string[]} argv @param {NodeJS.ProcessEnv} env @param {string} readyPath */
const launch = (name, argv, env, readyPath) => launchServer({ name, argv, env, readyPath, logDir: work, cwd: ROOT });

/** @type {Awaited<ReturnType<typeof createDevelopers>> | null} */
let developers = null;
try {
  const first = await launch('setup', [SERVER_MAIN], baseEnv, '/readyz');
  developers = await createDevelopers(baseEnv, 10, `ab-${Date.now().toString(36)}`);
  const { tokens } = developers;
  await first.stop();
  const headers = Array.from({ length: CONNECTIONS }, (_, i) => ({
    authorization: `Bearer ${args.guesses ? guessedToken() : tokens[i % tokens.length]}`,
  }));
  /** @type {{ name: string, target: import('./lib/measure.mjs').LoadTarget }[]} */
  const rows = [];
  if (args.limit) {
    const server = await launch(
      'limit',
      [path.join(ROOT, 'bench/servers/limit.mjs')],
      { ...process.env, NODE_ENV: 'production' },
      '/hello',
    );
    rows.push({ name: 'limit', target: { key: 'limit', server, path: '/hello', connectionHeaders: [] } });
  }
  for (const [i, v] of variants.entries()) {
    const { main = SERVER_MAIN, ...env } = v.env;
    const proxies = args['many-addresses'] ? { GATEHOUSE_TRUSTED_PROXIES: '127.0.0.1' } : {};
    const server = await launch(`variant-${i}`, [main], { ...baseEnv, ...proxies, ...env }, '/readyz');
    rows.push({
      name: v.name,
      target: {
        key: v.name,
        server,
        path: '/core/users/me',
        connectionHeaders: headers,
        rotateForwardedFor: args['many-addresses'],
      },
    });
  }
  for (const row of rows) await measure(row.target, 2, CONNECTIONS);
  /** @type {Map<string, import('./lib/report.mjs').Sample[]>} */
  const samples = new Map(rows.map((r) => [r.name, []]));
  for (let rep = 0; rep < REPS; rep++) {
    for (const row of rows) {
      await sleep(500);
      const s = await measure(row.target, DURATION, CONNECTIONS);
      samples.get(row.name)?.push(s);
      process.stderr.write(
        `ab: ${row.name}: ${Math.round(s.rps)} req/s, ${s.cpuUsPerRequest.toFixed(1)} µs CPU/req, p99 ${s.p99Ms} ms ${JSON.stringify(s.statuses)}\n`,
      );
    }
  }
  const base = variants[0]?.name ?? '';
  const med = (/** @type {string} */ name, /** @type {(s: import('./lib/report.mjs').Sample) => number} */ f) =>
    median((samples.get(name) ?? []).map(f));
  process.stdout.write(`\n${REPS} × ${DURATION} s, ${CONNECTIONS} connections, medians; ratios to "${base}"\n`);
  process.stdout.write(
    '| variant | req/s | CPU µs/req | p99 ms | req/s ratio | CPU ratio |\n|---|---|---|---|---|---|\n',
  );
  for (const row of rows) {
    const rps = med(row.name, (s) => s.rps);
    const cpu = med(row.name, (s) => s.cpuUsPerRequest);
    process.stdout.write(
      `| ${row.name} | ${Math.round(rps)} | ${cpu.toFixed(1)} | ${med(row.name, (s) => s.p99Ms).toFixed(2)} | ${(rps / med(base, (s) => s.rps)).toFixed(2)} | ${(cpu / med(base, (s) => s.cpuUsPerRequest)).toFixed(2)} |\n`,
    );
  }
} finally {
  killAll();
  if (args.postgres && developers !== null) {
    const { emails, previousRateLimit } = developers;
    await cli(['settings', 'set', 'rate_limit_per_minute', previousRateLimit], baseEnv);
    await inBatches(emails, 2, (email) => cli(['users', 'archive', '--email', email], baseEnv));
  }
  fs.rmSync(work, { recursive: true, force: true });
}
