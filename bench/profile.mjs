// Profiles one server under the benchmark's load with `node --cpu-prof` and prints where its CPU
// time goes: self time by function, time by package, and inclusive time of the heaviest functions.
//   node bench/profile.mjs [--target gatehouse|gatehouse-pg|reject-one|reject-many|peer|limit|floor] [--duration 10] [--connections 50] [--perf]
// --perf samples with Linux `perf record` instead (the server runs with --perf-basic-prof so that
// JavaScript frames have names): it sees the kernel and native code too, which V8's profiler
// blames on whatever JavaScript called them. Needs `perf` (Debian: linux-perf).
// gatehouse-pg needs DATABASE_URL and REDIS_URL (a throwaway database, as for npm run bench).
// Build first (npm run build). The .cpuprofile is kept under bench/results/ for Chrome DevTools.
import { fork, spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { cli, createDevelopers, guessedToken, inBatches, ROOT, SERVER_MAIN } from './lib/gatehouse.mjs';
import { freePort, killAll, startServer, waitForHttp } from './lib/proc.mjs';

const { values: args } = parseArgs({
  options: {
    target: { type: 'string', default: 'gatehouse' },
    duration: { type: 'string', default: '10' },
    connections: { type: 'string', default: '50' },
    top: { type: 'string', default: '30' },
    perf: { type: 'boolean', default: false },
  },
});
const TARGETS = ['gatehouse', 'gatehouse-pg', 'reject-one', 'reject-many', 'peer', 'limit', 'floor'];
if (!TARGETS.includes(args.target)) throw new Error(`--target must be one of ${TARGETS.join(', ')}`);
const DURATION = Math.min(120, Math.max(1, Number(args.duration)));
const CONNECTIONS = Math.min(1000, Math.max(1, Number(args.connections)));
const TOP = Math.max(5, Number(args.top));

const watchdog = setTimeout(
  () => {
    killAll();
    process.exit(1);
  },
  (DURATION + 180) * 1000,
);
watchdog.unref();

const work = fs.mkdtempSync(path.join(os.tmpdir(), 'gatehouse-profile-'));
const dataDir = path.join(work, 'data');
const profileDir = path.join(ROOT, 'bench/results', `profile-${args.target}-${Date.now()}`);
/** @type {NodeJS.ProcessEnv} */
const env = {
  ...process.env,
  NODE_ENV: 'production',
  LOG_LEVEL: 'info',
  HOST: '127.0.0.1',
  GATEHOUSE_DATA_DIR: dataDir,
  GATEHOUSE_ADMIN_EMAIL: 'bench-admin@bench.example',
  GATEHOUSE_ADMIN_PASSWORD: 'bench-admin-password',
};
const onPostgres = args.target === 'gatehouse-pg';
if (onPostgres) {
  if (!env.DATABASE_URL || !env.REDIS_URL) throw new Error('--target gatehouse-pg needs DATABASE_URL and REDIS_URL');
  delete env.GATEHOUSE_ADMIN_EMAIL;
  delete env.GATEHOUSE_ADMIN_PASSWORD;
} else {
  delete env.DATABASE_URL;
  delete env.REDIS_URL;
}
/** @type {(() => Promise<void>)[]} */
const cleanups = [];

try {
  // Set up the data with an unprofiled server and the CLI, then profile a fresh process.
  const setupPort = await freePort();
  const setup = startServer({
    name: 'setup',
    args: [SERVER_MAIN],
    env: { ...env, PORT: String(setupPort) },
    port: setupPort,
    logFile: path.join(work, 'setup.log'),
  });
  await waitForHttp(`http://127.0.0.1:${setupPort}/readyz`, { child: setup });
  const runId = `profile-${randomBytes(3).toString('hex')}`;
  const { tokens, emails, previousRateLimit } = await createDevelopers(env, 5, runId);
  if (onPostgres) {
    cleanups.push(async () => {
      await cli(['settings', 'set', 'rate_limit_per_minute', previousRateLimit], env);
      await inBatches(emails, 2, (email) => cli(['users', 'archive', '--email', email], env));
    });
  }
  await setup.stop();

  const port = await freePort();
  const script = {
    gatehouse: SERVER_MAIN,
    'gatehouse-pg': SERVER_MAIN,
    'reject-one': SERVER_MAIN,
    'reject-many': SERVER_MAIN,
    peer: path.join(ROOT, 'bench/servers/peer.mjs'),
    limit: path.join(ROOT, 'bench/servers/limit.mjs'),
    floor: path.join(ROOT, 'bench/servers/staircase.mjs'),
  }[args.target];
  // The floor (see bench/servers/staircase.mjs) answers without authentication, so 200 at once.
  const floorFlags = { STAIR_LOGGER: '1', STAIR_HOOKS: '1', STAIR_LOGLINE: '1', STAIR_AUTH: '1' };
  const serverEnv = {
    ...env,
    PORT: String(port),
    PEER_SQLITE_FILE: path.join(dataDir, 'gatehouse.sqlite'),
    ...(args.target === 'reject-many' ? { GATEHOUSE_TRUSTED_PROXIES: '127.0.0.1' } : {}),
    ...(args.target === 'floor' ? floorFlags : {}),
  };
  const server = startServer({
    name: args.target,
    args: [
      ...(args.perf ? ['--perf-basic-prof'] : ['--cpu-prof', '--cpu-prof-dir', profileDir]),
      /** @type {string} */ (script),
    ],
    env: serverEnv,
    port,
    logFile: path.join(work, 'server.log'),
  });
  const urlPath = args.target === 'limit' ? '/hello' : '/core/users/me';
  await waitForHttp(`http://127.0.0.1:${port}${urlPath}`, {
    child: server,
    status: args.target === 'limit' || args.target === 'floor' ? 200 : 401,
  });
  const valid = !args.target.startsWith('reject-');
  const connectionHeaders = Array.from({ length: CONNECTIONS }, (_, i) => ({
    authorization: `Bearer ${valid ? tokens[i % tokens.length] : guessedToken()}`,
  }));
  process.stderr.write(`profile: ${args.target} under load for ${DURATION} s\n`);
  const perfData = path.join(profileDir, 'perf.data');
  if (args.perf) fs.mkdirSync(profileDir, { recursive: true });
  const recorder = args.perf
    ? spawn('perf', ['record', '-F', '999', '-g', '-p', String(server.pid), '-o', perfData], { stdio: 'ignore' })
    : null;
  const result = await new Promise((resolve, reject) => {
    const plan = {
      url: `http://127.0.0.1:${port}${urlPath}`,
      connections: CONNECTIONS,
      durationSec: DURATION,
      connectionHeaders,
      rotateForwardedFor: args.target === 'reject-many',
    };
    const child = fork(path.join(ROOT, 'bench/load.mjs'), [JSON.stringify(plan)]);
    child.on(
      'message',
      (/** @type {{ type: string, result?: unknown }} */ m) => m.type === 'result' && resolve(m.result),
    );
    child.on('exit', (code) => code !== 0 && reject(new Error(`load generator exited with ${code}`)));
  });
  if (recorder !== null) {
    recorder.kill('SIGINT');
    await new Promise((resolve) => recorder.once('exit', resolve));
  }
  await server.stop();
  if (args.perf) {
    const { rps } = /** @type {{ rps: number }} */ (result);
    process.stdout.write(`${args.target}: ${Math.round(rps)} req/s\nprofile: ${path.relative(ROOT, perfData)}\n\n`);
    /** @param {string[]} extra @param {(line: string) => boolean} [keep] */
    const report = (extra, keep = () => true) =>
      spawnSync('perf', ['report', '-i', perfData, '--stdio', '-g', 'none', '--percent-limit', '0.3', ...extra], {
        encoding: 'utf8',
        maxBuffer: 64 * 1024 * 1024,
      })
        .stdout.split('\n')
        .filter((line) => line.trim() !== '' && !line.startsWith('#') && keep(line))
        .slice(0, TOP)
        .join('\n');
    process.stdout.write(`Self time by shared object:\n${report(['--no-children', '--sort', 'dso'])}\n\n`);
    process.stdout.write(`Self time by symbol:\n${report(['--no-children', '--sort', 'sym'])}\n\n`);
    process.stdout.write(
      `Inclusive time of JavaScript functions:\n${report(['--children', '--sort', 'sym'], (line) => line.includes('JS:'))}\n`,
    );
  } else {
    const file = fs.readdirSync(profileDir).find((f) => f.endsWith('.cpuprofile'));
    if (file === undefined) throw new Error(`no profile written to ${profileDir}`);
    const { rps, statuses } = /** @type {{ rps: number, statuses: Record<string, number> }} */ (result);
    process.stdout.write(
      `${args.target}: ${Math.round(rps)} req/s, ${JSON.stringify(statuses)}\nprofile: ${path.relative(ROOT, path.join(profileDir, file))}\n\n`,
    );
    process.stdout.write(summarize(JSON.parse(fs.readFileSync(path.join(profileDir, file), 'utf8')), TOP));
  }
} finally {
  killAll();
  for (const cleanup of cleanups) await cleanup();
  fs.rmSync(work, { recursive: true, force: true });
}

/**
 * @typedef {{ id: number, callFrame: { functionName: string, url: string, lineNumber: number }, children?: number[] }} ProfileNode
 * @typedef {{ nodes: ProfileNode[], samples: number[], timeDeltas: number[] }} Profile
 */

/** Where a function lives: a package, a file of the server, Node itself, or V8's own buckets. @param {string} url */
function bucketOf(url) {
  if (url === '') return '(V8: native, GC, idle, program)';
  const pkg = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (pkg !== null) return pkg[1] ?? url;
  if (url.startsWith('node:')) return 'node core';
  const ours = /\/(packages\/[^/]+\/dist\/.*|bench\/.*)$/.exec(url);
  return ours?.[1] ?? url;
}

/**
 * @param {Profile} profile
 * @param {number} top
 */
function summarize(profile, top) {
  /** @type {Map<number, ProfileNode>} */
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  /** @type {Map<number, number>} */
  const parent = new Map();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const keyOf = (/** @type {ProfileNode} */ n) =>
    `${n.callFrame.functionName || '(anonymous)'}  ${n.callFrame.url === '' ? '' : `${bucketOf(n.callFrame.url)}:${n.callFrame.lineNumber + 1}`}`;
  /** @type {Map<string, number>} */ const self = new Map();
  /** @type {Map<string, number>} */ const inclusive = new Map();
  /** @type {Map<string, number>} */ const buckets = new Map();
  let total = 0;
  let idle = 0;
  profile.samples.forEach((id, i) => {
    const dt = profile.timeDeltas[i] ?? 0;
    const node = byId.get(id);
    if (node === undefined) return;
    if (node.callFrame.functionName === '(idle)') {
      idle += dt;
      return;
    }
    total += dt;
    const key = keyOf(node);
    self.set(key, (self.get(key) ?? 0) + dt);
    const bucket = node.callFrame.url === '' ? `(${node.callFrame.functionName})` : bucketOf(node.callFrame.url);
    buckets.set(bucket, (buckets.get(bucket) ?? 0) + dt);
    /** @type {Set<string>} */
    const seen = new Set();
    for (let cur = /** @type {number | undefined} */ (id); cur !== undefined; cur = parent.get(cur)) {
      const n = byId.get(cur);
      if (n === undefined) break;
      const k = keyOf(n);
      if (seen.has(k)) continue;
      seen.add(k);
      inclusive.set(k, (inclusive.get(k) ?? 0) + dt);
    }
  });
  const pct = (/** @type {number} */ us) => `${((us / total) * 100).toFixed(1).padStart(5)}%`;
  const list = (/** @type {Map<string, number>} */ m, /** @type {number} */ n) =>
    [...m.entries()]
      .sort((a, b) => b[1] - a[1])
      .slice(0, n)
      .map(([k, us]) => `${pct(us)}  ${(us / 1000).toFixed(0).padStart(6)} ms  ${k}`)
      .join('\n');
  return [
    `busy ${(total / 1000).toFixed(0)} ms, idle ${(idle / 1000).toFixed(0)} ms (main thread)`,
    '',
    'Self time by package or file:',
    list(buckets, 25),
    '',
    'Self time by function:',
    list(self, top),
    '',
    'Inclusive time by function (each function counted once per sample):',
    list(inclusive, top),
    '',
  ].join('\n');
}
