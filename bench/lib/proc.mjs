// Process plumbing for the benchmark: child servers, /proc readings, free ports, waiting.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';

/** Clock ticks per second for /proc/<pid>/stat utime and stime (USER_HZ; 100 on Linux). */
const CLOCK_TICKS = 100;

/**
 * @typedef {object} ProcSample
 * @property {number} cpuMs  user + system CPU time of the process so far, in milliseconds
 * @property {number} rssKb  resident set size now (VmRSS), in KiB
 * @property {number} hwmKb  peak resident set size so far (VmHWM), in KiB
 */

/**
 * Reads a live process's CPU time and memory from /proc.
 * @param {number} pid
 * @returns {ProcSample}
 */
export function sampleProcess(pid) {
  const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  // Fields after the command name, which is in parentheses and may contain spaces.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // fields[0] is field 3 (state); utime is field 14 and stime field 15.
  const utime = Number(fields[11]);
  const stime = Number(fields[12]);
  const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (/** @type {string} */ name) => Number(new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN);
  return { cpuMs: ((utime + stime) * 1000) / CLOCK_TICKS, rssKb: kb('VmRSS'), hwmKb: kb('VmHWM') };
}

/**
 * Resets a process's VmHWM to its current RSS (Linux 4.0+), so that a later reading is the peak
 * since now rather than since start-up. Returns false where the kernel does not allow it.
 * @param {number} pid
 */
export function resetPeakRss(pid) {
  try {
    fs.writeFileSync(`/proc/${pid}/clear_refs`, '5');
    return true;
  } catch {
    return false;
  }
}

/**
 * A port the OS says is free on 127.0.0.1 right now.
 * @returns {Promise<number>}
 */
export function freePort() {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => (typeof address === 'object' && address !== null ? resolve(address.port) : reject()));
    });
  });
}

/** @param {number} ms */
export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Polls a URL until it answers with the expected status, or fails after `timeoutMs`.
 * @param {string} url
 * @param {{ timeoutMs?: number, status?: number, headers?: Record<string, string>, child?: Server }} [options]
 */
export async function waitForHttp(url, { timeoutMs = 20_000, status = 200, headers = {}, child } = {}) {
  const deadline = Date.now() + timeoutMs;
  let last = 'no answer';
  while (Date.now() < deadline) {
    if (child?.exited) throw new Error(`${child.name} exited before it answered ${url}`);
    try {
      const res = await fetch(url, { headers, signal: AbortSignal.timeout(1000) });
      await res.arrayBuffer();
      if (res.status === status) return;
      last = `status ${res.status}`;
    } catch (err) {
      last = err instanceof Error ? err.message : String(err);
    }
    await sleep(100);
  }
  throw new Error(`${url} did not answer ${status} within ${timeoutMs} ms (${last})`);
}

/**
 * @typedef {object} Server
 * @property {string} name
 * @property {number} pid
 * @property {number} port
 * @property {string} logFile
 * @property {boolean} exited
 * @property {number} startedAt  Date.now() when it was spawned
 * @property {() => Promise<void>} stop  SIGTERM, then SIGKILL after 5 s
 */

/** Every child this process started, so they can all be stopped on the way out. */
const children = new Set();

/**
 * Starts a server under test in its own process, its output appended to `logFile`.
 * @param {{ name: string, args: string[], env: NodeJS.ProcessEnv, port: number, logFile: string, cwd?: string }} spec
 * @returns {Server}
 */
export function startServer({ name, args, env, port, logFile, cwd }) {
  const out = fs.openSync(logFile, 'a');
  const child = spawn(process.execPath, args, { env, cwd, stdio: ['ignore', out, out] });
  fs.closeSync(out);
  if (child.pid === undefined) throw new Error(`could not start ${name}`);
  /** @type {Server} */
  const server = {
    name,
    pid: child.pid,
    port,
    logFile,
    exited: false,
    startedAt: Date.now(),
    stop: async () => {
      if (server.exited) return;
      const gone = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
      await gone;
      clearTimeout(timer);
    },
  };
  child.once('exit', () => {
    server.exited = true;
    children.delete(child);
  });
  children.add(child);
  return server;
}

/** Kills every child still running; for exit paths. */
export function killAll() {
  for (const child of children) child.kill('SIGKILL');
}

/**
 * Runs a command to completion and returns its standard output; throws with its output on failure.
 * @param {string} file
 * @param {string[]} args
 * @param {{ env?: NodeJS.ProcessEnv, cwd?: string, timeoutMs?: number }} [options]
 * @returns {Promise<string>}
 */
export function run(file, args, { env = process.env, cwd, timeoutMs = 60_000 } = {}) {
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, { env, cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => {
      stdout += d;
    });
    child.stderr.on('data', (d) => {
      stderr += d;
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      if (code === 0) resolve(stdout);
      else reject(new Error(`${file} ${args.join(' ')} failed (${signal ?? code}):\n${stdout}${stderr}`));
    });
  });
}

/**
 * Starts a server on a free port (PORT in its environment), its output in `logDir/<name>.log`,
 * and waits until `readyPath` answers `readyStatus`.
 * @param {{ name: string, argv: string[], env: NodeJS.ProcessEnv, readyPath: string, readyStatus?: number, logDir: string, cwd?: string }} spec
 * @returns {Promise<Server>}
 */
export async function launchServer({ name, argv, env, readyPath, readyStatus = 200, logDir, cwd }) {
  const port = await freePort();
  const server = startServer({
    name,
    args: argv,
    env: { ...env, PORT: String(port) },
    port,
    logFile: path.join(logDir, `${name}.log`),
    cwd,
  });
  await waitForHttp(`http://127.0.0.1:${port}${readyPath}`, { child: server, status: readyStatus });
  return server;
}
