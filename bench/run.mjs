// `npm run bench`: the authenticated hot path against a bare Fastify limit and an Express peer,
// side by side on this machine, each server in its own process and autocannon in another.
// Writes docs/benchmarks.md (and the raw numbers to bench/results/). See `node bench/run.mjs --help`.
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';
import { parseArgs } from 'node:util';
import { cli, createDevelopers, guessedToken, inBatches, ROOT, SERVER_MAIN } from './lib/gatehouse.mjs';
import { measure } from './lib/measure.mjs';
import { killAll, launchServer, resetPeakRss, run, sampleProcess, sleep } from './lib/proc.mjs';
import { renderReport } from './lib/report.mjs';

const HELP = `Usage: npm run bench -- [options]

  --duration <s>      seconds per measured run (default 10)
  --reps <n>          measured runs per row, interleaved across rows (default 3)
  --warmup <s>        seconds of unmeasured load per row before the first run (default 3)
  --connections <n>   concurrent connections (default 50)
  --users <n>         developer users the load is spread over (default 10; a user's limit is shared by its tokens)
  --soak              also run Gatehouse (SQLite) for 2 minutes (after 60 s of warm-up) and sample its memory
  --soak-seconds <s>  length of the soak (default 120)
  --out <file>        where the report goes (default docs/benchmarks.md)
  --keep              keep the temporary data folder and server logs

PostgreSQL + Redis rows run when DATABASE_URL and REDIS_URL are both set (use a throwaway database:
the run adds developer users, archived again at the end, and sets rate_limit_per_minute for the
duration of the run). The rate-limit store micro-benchmark uses Redis when REDIS_URL is set.`;

const { values: args } = parseArgs({
  options: {
    duration: { type: 'string', default: '10' },
    reps: { type: 'string', default: '3' },
    warmup: { type: 'string', default: '3' },
    connections: { type: 'string', default: '50' },
    users: { type: 'string', default: '10' },
    soak: { type: 'boolean', default: false },
    'soak-seconds': { type: 'string', default: '120' },
    out: { type: 'string', default: 'docs/benchmarks.md' },
    keep: { type: 'boolean', default: false },
    help: { type: 'boolean', default: false },
  },
});
if (args.help) {
  process.stdout.write(`${HELP}\n`);
  process.exit(0);
}

/** @param {string} name @param {string} raw @param {number} min @param {number} max */
function count(name, raw, min, max) {
  const n = Number(raw);
  if (!Number.isInteger(n) || n < min || n > max) {
    process.stderr.write(`--${name} must be a whole number from ${min} to ${max}\n`);
    process.exit(2);
  }
  return n;
}
const DURATION = count('duration', args.duration, 1, 600);
const REPS = count('reps', args.reps, 1, 20);
const WARMUP = count('warmup', args.warmup, 0, 60);
const CONNECTIONS = count('connections', args.connections, 1, 1000);
const USERS = count('users', args.users, 1, 100);
const SOAK_SECONDS = count('soak-seconds', args['soak-seconds'], 10, 3600);
const SOAK_WARMUP = 60;

const databaseUrl = process.env.DATABASE_URL?.trim() || null;
const redisUrl = process.env.REDIS_URL?.trim() || null;
const withPostgres = databaseUrl !== null && redisUrl !== null;

// Nothing runs unbounded: every run has its duration, and this stops everything if a step hangs.
const budgetMs =
  (60 + 8 * (WARMUP + REPS * (DURATION + 2)) + (args.soak ? SOAK_SECONDS + SOAK_WARMUP + 30 : 0) + 240) * 1000;
const watchdog = setTimeout(() => {
  process.stderr.write(`bench: over its time budget of ${budgetMs / 1000} s; stopping\n`);
  killAll();
  process.exit(1);
}, budgetMs);
watchdog.unref();
for (const signal of /** @type {const} */ (['SIGINT', 'SIGTERM'])) {
  process.once(signal, () => {
    killAll();
    process.exit(130);
  });
}

/** @param {Target} target @param {number} seconds @param {(pid: number, requests: number) => void} [onTick] */
const load = (target, seconds, onTick) => measure(target, seconds, CONNECTIONS, onTick);

const log = (/** @type {string} */ line) => process.stderr.write(`bench: ${line}\n`);

/**
 * @typedef {import('./lib/report.mjs').Sample} Sample
 * @typedef {import('./lib/report.mjs').Row} Row
 * @typedef {import('./load.mjs').LoadResult} LoadResult
 */

/**
 * @typedef {object} Target
 * @property {string} key
 * @property {string} label
 * @property {string} description
 * @property {import('./lib/proc.mjs').Server} server
 * @property {string} path
 * @property {Record<string, string>[]} connectionHeaders
 * @property {boolean} [rotateForwardedFor]
 * @property {number[]} expectedStatuses  anything else makes the row's numbers suspect
 */

/**
 * How often `needle` occurs in a file, read in chunks (server logs run to hundreds of MB).
 * @param {string} file
 * @param {string} needle  ASCII, no repeated prefix
 */
async function countOccurrences(file, needle) {
  let n = 0;
  let carry = '';
  for await (const chunk of fs.createReadStream(file, { encoding: 'latin1', highWaterMark: 1 << 20 })) {
    const text = carry + chunk;
    for (let i = text.indexOf(needle); i !== -1; i = text.indexOf(needle, i + needle.length)) n++;
    carry = text.slice(-(needle.length - 1));
  }
  return n;
}

/** @param {string} url @param {Record<string, string>} headers @param {number} status */
async function expectStatus(url, headers, status) {
  const res = await fetch(url, { headers });
  const body = await res.text();
  if (res.status !== status) throw new Error(`GET ${url} answered ${res.status}, not ${status}: ${body.slice(0, 300)}`);
  return body;
}

const runId = `${new Date().toISOString().replace(/[-:]/g, '').slice(0, 15)}-${randomBytes(3).toString('hex')}`;
const work = fs.mkdtempSync(path.join(os.tmpdir(), 'gatehouse-bench-'));
const dataDir = path.join(work, 'data');
/** @type {import('./lib/proc.mjs').Server[]} */
const servers = [];
/** @type {(() => Promise<void>)[]} */
const cleanups = [];

/** Environment for a Gatehouse process: the production logging configuration, no stray storage URLs. */
function gatehouseEnv(/** @type {NodeJS.ProcessEnv} */ extra) {
  /** @type {NodeJS.ProcessEnv} */
  const env = { ...process.env, NODE_ENV: 'production', LOG_LEVEL: 'info', HOST: '127.0.0.1', ...extra };
  for (const [k, v] of Object.entries(env)) if (v === undefined) delete env[k];
  return env;
}

/**
 * @param {string} name
 * @param {string[]} argv
 * @param {NodeJS.ProcessEnv} env
 * @param {string} readyPath
 * @param {number} [readyStatus]
 */
async function launch(name, argv, env, readyPath, readyStatus = 200) {
  const server = await launchServer({ name, argv, env, readyPath, readyStatus, logDir: work, cwd: ROOT });
  servers.push(server);
  return server;
}

const started = new Date();
const loadBefore = os.loadavg();
const machine = {
  cpus: os.availableParallelism(),
  cpuModel:
    /^model name\s*:\s*(.*)$/m.exec(fs.readFileSync('/proc/cpuinfo', 'utf8'))?.[1] ?? os.cpus()[0]?.model ?? 'unknown',
  memoryGb: os.totalmem() / 2 ** 30,
  node: process.version,
  kernel: `${os.type()} ${os.release()}`,
  autocannon: JSON.parse(fs.readFileSync(path.join(ROOT, 'node_modules/autocannon/package.json'), 'utf8')).version,
};
/** The code measured: the commit, and whether packages/ had uncommitted changes when the run began. */
const code = await Promise.all([
  run('git', ['rev-parse', '--short', 'HEAD'], { cwd: ROOT }),
  run('git', ['status', '--porcelain', '--', 'packages'], { cwd: ROOT }),
]).then(
  ([commit, dirty]) => ({ commit: commit.trim(), dirty: dirty.trim() !== '' }),
  () => ({ commit: 'unknown', dirty: false }),
);

try {
  // --- Gatehouse on SQLite, set up through its own CLI ------------------------------------------
  const adminPassword = randomBytes(12).toString('hex');
  const sqliteEnv = gatehouseEnv({
    GATEHOUSE_DATA_DIR: dataDir,
    GATEHOUSE_ADMIN_EMAIL: 'bench-admin@bench.example',
    GATEHOUSE_ADMIN_PASSWORD: adminPassword,
    DATABASE_URL: undefined,
    REDIS_URL: undefined,
  });
  log(`temporary data in ${work}`);
  const gatehouse = await launch('gatehouse-sqlite', [SERVER_MAIN], sqliteEnv, '/readyz');
  log(`creating ${USERS} developer users and tokens with the CLI`);
  const sqliteDevs = await createDevelopers(sqliteEnv, USERS, runId);
  const bearer = (/** @type {string[]} */ tokens) =>
    Array.from({ length: CONNECTIONS }, (_, i) => ({ authorization: `Bearer ${tokens[i % tokens.length]}` }));
  const validHeaders = bearer(sqliteDevs.tokens);
  const guesses = bearer(Array.from({ length: CONNECTIONS }, guessedToken));

  // A single-address flood is refused by the failed-auth limit after 30 failures; a flood from many
  // addresses (X-Forwarded-For from a trusted proxy) is never blocked and is answered 401 throughout.
  const uncached = await launch(
    'gatehouse-uncached',
    [SERVER_MAIN],
    { ...sqliteEnv, GATEHOUSE_CREDENTIAL_CACHE_SIZE: '0' },
    '/readyz',
  );
  const rejectOne = await launch('gatehouse-reject-one', [SERVER_MAIN], sqliteEnv, '/readyz');
  const rejectMany = await launch(
    'gatehouse-reject-many',
    [SERVER_MAIN],
    { ...sqliteEnv, GATEHOUSE_TRUSTED_PROXIES: '127.0.0.1' },
    '/readyz',
  );
  const limit = await launch(
    'limit',
    [path.join(ROOT, 'bench/servers/limit.mjs')],
    { ...process.env, NODE_ENV: 'production' },
    '/hello',
  );
  // Every flag of the staircase: Gatehouse's answer, headers and log line over a Map of tokens.
  const floor = await launch(
    'floor',
    [path.join(ROOT, 'bench/servers/staircase.mjs')],
    {
      ...process.env,
      NODE_ENV: 'production',
      STAIR_LOGGER: '1',
      STAIR_HOOKS: '1',
      STAIR_LOGLINE: '1',
      STAIR_AUTH: '1',
    },
    '/readyz',
  );
  const peer = await launch(
    'peer',
    [path.join(ROOT, 'bench/servers/peer.mjs')],
    { ...process.env, NODE_ENV: 'production', PEER_SQLITE_FILE: path.join(dataDir, 'gatehouse.sqlite') },
    '/core/users/me',
    401,
  );

  /** @type {Target[]} */
  const targets = [
    {
      key: 'limit',
      label: 'limit: bare Fastify',
      description: 'Fastify 5, one GET route answering {"hello":"world"}; no auth, no logging, no hooks',
      server: limit,
      path: '/hello',
      connectionHeaders: [],
      expectedStatuses: [200],
    },
    {
      key: 'floor',
      label: 'floor: Fastify with Gatehouse’s answer',
      description:
        'bench/servers/staircase.mjs with every flag: the same JSON:API body, eight /core headers and one log line per request (Gatehouse’s own request-log hook and log output, from the build), behind the issue’s calibration work (hash the token, look it up in a Map, bump a counter) instead of authentication; what any Fastify app that answers as Gatehouse does costs here',
      server: floor,
      path: '/core/users/me',
      connectionHeaders: validHeaders,
      expectedStatuses: [200],
    },
    {
      key: 'gatehouse',
      label: 'gatehouse (SQLite)',
      description:
        'GET /core/users/me with a valid token through the whole stack: version header, bearer auth by hash, rate limit (100000/min), role check, JSON:API body; LOG_LEVEL=info to a file',
      server: gatehouse,
      path: '/core/users/me',
      connectionHeaders: validHeaders,
      expectedStatuses: [200],
    },
    {
      key: 'gatehouse-uncached',
      label: 'gatehouse (SQLite), no credential cache',
      description:
        'as gatehouse (SQLite) with GATEHOUSE_CREDENTIAL_CACHE_SIZE=0: the token, its user and the settings are read from SQLite on every request (what the cache saves)',
      server: uncached,
      path: '/core/users/me',
      connectionHeaders: validHeaders,
      expectedStatuses: [200],
    },
    {
      key: 'peer',
      label: 'peer: Express + passport',
      description:
        'Express 5 + passport-http-bearer + express-rate-limit (per user, 100000/min) over the same SQLite file; token looked up by SHA-256 joined to users; no request logging',
      server: peer,
      path: '/core/users/me',
      connectionHeaders: validHeaders,
      expectedStatuses: [200],
    },
    {
      key: 'reject-one',
      label: 'rejections, one address',
      description:
        'gatehouse, GET /core/users/me with well-formed unknown tokens from 127.0.0.1: 401 until the failed-auth limit (30/min per address) blocks the address, 429 after',
      server: rejectOne,
      path: '/core/users/me',
      connectionHeaders: guesses,
      expectedStatuses: [401, 429],
    },
    {
      key: 'reject-many',
      label: 'rejections, many addresses',
      description:
        'gatehouse trusting 127.0.0.1 as a proxy; every request comes "from" a new X-Forwarded-For address in 198.18.0.0/15 (131072 of them), so no address is blocked and every guess is hashed, looked up and answered 401',
      server: rejectMany,
      path: '/core/users/me',
      connectionHeaders: guesses,
      rotateForwardedFor: true,
      expectedStatuses: [401],
    },
  ];

  // --- Gatehouse on PostgreSQL + Redis, when both are configured --------------------------------
  if (withPostgres) {
    const pgEnv = gatehouseEnv({
      GATEHOUSE_DATA_DIR: path.join(work, 'unused'),
      DATABASE_URL: databaseUrl ?? undefined,
      REDIS_URL: redisUrl ?? undefined,
      GATEHOUSE_ADMIN_EMAIL: undefined,
      GATEHOUSE_ADMIN_PASSWORD: undefined,
    });
    const pg = await launch('gatehouse-postgres', [SERVER_MAIN], pgEnv, '/readyz');
    log(`creating ${USERS} developer users and tokens in PostgreSQL with the CLI`);
    const pgDevs = await createDevelopers(pgEnv, USERS, runId);
    cleanups.push(async () => {
      log('PostgreSQL: archiving the benchmark users (revokes their tokens) and restoring rate_limit_per_minute');
      await cli(['settings', 'set', 'rate_limit_per_minute', pgDevs.previousRateLimit], pgEnv);
      await inBatches(pgDevs.emails, 2, (email) => cli(['users', 'archive', '--email', email], pgEnv));
    });
    targets.push({
      key: 'gatehouse-pg',
      label: 'gatehouse (PostgreSQL + Redis)',
      description: 'as gatehouse (SQLite), on DATABASE_URL, with the rate limits in REDIS_URL',
      server: pg,
      path: '/core/users/me',
      connectionHeaders: bearer(pgDevs.tokens),
      expectedStatuses: [200],
    });
  }

  // Every target answers as expected before anything is measured.
  for (const t of targets) {
    const url = `http://127.0.0.1:${t.server.port}${t.path}`;
    const body = await expectStatus(url, t.connectionHeaders[0] ?? {}, /** @type {number} */ (t.expectedStatuses[0]));
    if (t.key.startsWith('gatehouse') || t.key === 'peer' || t.key === 'floor') {
      const doc = JSON.parse(body);
      if (doc.data?.type !== 'user' || typeof doc.data?.attributes?.email !== 'string') {
        throw new Error(`${t.key} answered an unexpected body: ${body.slice(0, 300)}`);
      }
    }
  }

  // --- Measure: warm every row up, then the repetitions interleaved, so drift hits all rows alike --
  if (WARMUP > 0) {
    for (const t of targets) {
      log(`warm-up ${t.key} (${WARMUP} s)`);
      await load(t, WARMUP);
    }
  }
  // From here on, peak RSS means the peak under load: start-up (which for Gatehouse includes a
  // 128 MiB scrypt hash) and warm-up are reported on their own.
  /** @type {Map<string, number>} */
  const startupPeakMb = new Map();
  let peaksReset = true;
  for (const t of targets) {
    startupPeakMb.set(t.key, Math.max(startupPeakMb.get(t.key) ?? 0, sampleProcess(t.server.pid).hwmKb / 1024));
    peaksReset = resetPeakRss(t.server.pid) && peaksReset;
  }
  /** @type {Map<string, Sample[]>} */
  const samples = new Map(targets.map((t) => [t.key, []]));
  for (let rep = 1; rep <= REPS; rep++) {
    for (const t of targets) {
      await sleep(1000);
      const s = await load(t, DURATION);
      samples.get(t.key)?.push(s);
      log(
        `rep ${rep}/${REPS} ${t.key.padEnd(12)} ${s.rps.toFixed(0).padStart(6)} req/s  p50 ${s.p50Ms.toFixed(2)} ms  p99 ${s.p99Ms.toFixed(2)} ms  ${s.cpuUsPerRequest.toFixed(1)} µs CPU/req  ${JSON.stringify(s.statuses)}`,
      );
    }
  }

  // --- Optional soak: memory of Gatehouse (SQLite) under 2 minutes of continuous load -------------
  // A fresh process of its own, with --trace-gc, so that the live heap after each full collection
  // tells a leak from a heap that V8 simply lets grow before it collects.
  /** @type {import('./lib/report.mjs').Soak | null} */
  let soak = null;
  if (args.soak) {
    const gatehouseTarget = /** @type {Target} */ (targets.find((t) => t.key === 'gatehouse'));
    const soakServer = await launch('gatehouse-soak', ['--trace-gc', SERVER_MAIN], sqliteEnv, '/readyz');
    const soakTarget = { ...gatehouseTarget, server: soakServer };
    // Warmed up for one rate-limit window first: the per-user request logs (one entry per request
    // in the last 60 s, at the benchmark's limit of 100000/min) grow to their steady size during
    // the first window, by design; the soak then shows whether anything keeps growing after that.
    log(`soak: warm-up of ${SOAK_WARMUP} s (one rate-limit window)`);
    await load(soakTarget, SOAK_WARMUP);
    await sleep(1000);
    const linesBefore = await countOccurrences(soakServer.logFile, '"request completed"');
    const bytesBefore = fs.statSync(soakServer.logFile).size;
    log(`soak: gatehouse (SQLite), ${SOAK_SECONDS} s`);
    /** @type {{ t: number, rssMb: number, requests: number, logBytes: number }[]} */
    const raw = [{ t: 0, rssMb: sampleProcess(soakServer.pid).rssKb / 1024, requests: 0, logBytes: 0 }];
    const t0 = performance.now();
    const soakStartedAt = Date.now();
    const sample = await load(soakTarget, SOAK_SECONDS, (pid, requests) =>
      raw.push({
        t: Math.round((performance.now() - t0) / 1000),
        rssMb: sampleProcess(pid).rssKb / 1024,
        requests,
        logBytes: fs.statSync(soakServer.logFile).size - bytesBefore,
      }),
    );
    // Let the server finish writing its log, then learn the size of a request's log line, to tell
    // from the file's size during the soak how many lines were still waiting in the process.
    await sleep(2000);
    const lines = (await countOccurrences(soakServer.logFile, '"request completed"')) - linesBefore;
    const bytesPerLine = (fs.statSync(soakServer.logFile).size - bytesBefore) / Math.max(1, lines);
    const memory = raw.map((x) => ({
      t: x.t,
      rssMb: x.rssMb,
      logBacklog: Math.max(0, Math.round(x.requests - x.logBytes / bytesPerLine)),
    }));
    await soakServer.stop();
    const offsetS = (soakStartedAt - soakServer.startedAt) / 1000;
    // The log runs to hundreds of MB: read it line by line, keeping only the collector's lines.
    /** @type {RegExpExecArray[]} */
    const collections = [];
    const lineReader = readline.createInterface({
      input: fs.createReadStream(soakServer.logFile),
      crlfDelay: Infinity,
    });
    for await (const line of lineReader) {
      if (!line.includes('Mark-Compact')) continue;
      const m = /(\d+) ms: Mark-Compact.*? -> ([\d.]+) \(([\d.]+)\) MB/.exec(line);
      if (m !== null) collections.push(m);
    }
    const heapAfterGc = collections
      .map((m) => ({ t: Number(m[1]) / 1000 - offsetS, mb: Number(m[2]) }))
      .filter((x) => x.t >= 0 && x.t <= SOAK_SECONDS)
      .map((x) => ({ t: Math.round(x.t), mb: x.mb }));
    soak = { seconds: SOAK_SECONDS, memory, sample, heapAfterGc, bytesPerLine };
  }

  // --- Rate-limit store micro-benchmark -----------------------------------------------------------
  log(`rate-limit store micro-benchmark (memory${redisUrl !== null ? ' and Redis' : ''})`);
  for (const s of servers) await s.stop();
  const storeEnv = { ...process.env };
  if (redisUrl === null) delete storeEnv.REDIS_URL;
  const stores = JSON.parse(
    await run(process.execPath, [path.join(ROOT, 'bench/store-bench.mjs')], {
      env: storeEnv,
      cwd: ROOT,
      timeoutMs: 180_000,
    }),
  );

  /** @type {Row[]} */
  const rows = targets.map((t) => ({
    key: t.key,
    label: t.label,
    description: t.description,
    expectedStatuses: t.expectedStatuses,
    samples: samples.get(t.key) ?? [],
    startupPeakRssMb: startupPeakMb.get(t.key) ?? NaN,
  }));
  const report = {
    runId,
    started: started.toISOString(),
    finished: new Date().toISOString(),
    command: `npm run bench${process.argv.length > 2 ? ` -- ${process.argv.slice(2).join(' ')}` : ''}`,
    machine: { ...machine, loadBefore, loadAfter: os.loadavg() },
    code,
    settings: { duration: DURATION, reps: REPS, warmup: WARMUP, connections: CONNECTIONS, users: USERS },
    postgres: withPostgres,
    peaksReset,
    redisUrlSet: redisUrl !== null,
    rows,
    soak,
    stores: stores.rows,
  };
  const out = path.resolve(ROOT, args.out);
  fs.writeFileSync(out, renderReport(report));
  // The repository's lint formats Markdown too (aligned tables): leave the report as it wants it.
  await run(path.join(ROOT, 'node_modules/.bin/biome'), ['format', '--write', out], { cwd: ROOT }).catch((err) =>
    log(`could not format ${out} with biome: ${err instanceof Error ? err.message.split('\n')[0] : err}`),
  );
  const markdown = fs.readFileSync(out, 'utf8');
  fs.mkdirSync(path.join(ROOT, 'bench/results'), { recursive: true });
  fs.writeFileSync(path.join(ROOT, `bench/results/${runId}.json`), `${JSON.stringify(report, null, 2)}\n`);
  process.stdout.write(markdown);
  log(`wrote ${path.relative(ROOT, out)} and bench/results/${runId}.json`);
} finally {
  for (const s of servers) await s.stop();
  for (const cleanup of cleanups)
    await cleanup().catch((err) => log(`cleanup failed: ${err instanceof Error ? err.message : err}`));
  if (args.keep) log(`kept ${work}`);
  else fs.rmSync(work, { recursive: true, force: true });
}
