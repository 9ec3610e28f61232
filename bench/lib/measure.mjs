// One bounded load run: autocannon in its own process (bench/load.mjs) against one server, with
// the server's CPU time and memory read from /proc right before the first request and right after
// the last. Shared by `npm run bench` (run.mjs) and the side-by-side comparison (ab.mjs).
import { fork } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { ROOT } from './gatehouse.mjs';
import { sampleProcess } from './proc.mjs';

const LOAD = path.join(ROOT, 'bench/load.mjs');

/**
 * @typedef {import('./report.mjs').Sample} Sample
 * @typedef {import('../load.mjs').LoadResult} LoadResult
 * @typedef {{ key: string, server: import('./proc.mjs').Server, path: string, connectionHeaders: Record<string, string>[], rotateForwardedFor?: boolean }} LoadTarget
 */

/** Machine-wide busy CPU time so far (all cores), in ms, from /proc/stat. */
function machineBusyMs() {
  const line = fs.readFileSync('/proc/stat', 'utf8').split('\n', 1)[0] ?? '';
  const [, user, nice, system, , , irq, softirq] = line.trim().split(/\s+/).map(Number);
  return (((user ?? 0) + (nice ?? 0) + (system ?? 0) + (irq ?? 0) + (softirq ?? 0)) * 1000) / 100;
}

/**
 * One bounded autocannon run in its own process; the server's CPU time and memory are read from
 * /proc right before the first request and right after the last.
 * @param {LoadTarget} target
 * @param {number} seconds
 * @param {number} connections
 * @param {(pid: number, requests: number) => void} [onTick]  called every 5 s during the run with the responses so far
 * @returns {Promise<Sample>}
 */
export function measure(target, seconds, connections, onTick) {
  const plan = {
    url: `http://127.0.0.1:${target.server.port}${target.path}`,
    connections,
    durationSec: seconds,
    connectionHeaders: target.connectionHeaders,
    rotateForwardedFor: target.rotateForwardedFor ?? false,
  };
  return new Promise((resolve, reject) => {
    const child = fork(LOAD, [JSON.stringify(plan)], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    /** @type {{ server: import('./proc.mjs').ProcSample, busyMs: number, at: number } | undefined} */
    let before;
    /** @type {NodeJS.Timeout | undefined} */
    let ticker;
    let requestsSoFar = 0;
    const killer = setTimeout(
      () => {
        child.kill('SIGKILL');
        reject(new Error(`the load generator for ${target.key} did not finish`));
      },
      (seconds + 30) * 1000,
    );
    child.on('message', (/** @type {{ type: string, result?: LoadResult, requests?: number }} */ message) => {
      if (message.type === 'started') {
        before = { server: sampleProcess(target.server.pid), busyMs: machineBusyMs(), at: performance.now() };
        if (onTick !== undefined) ticker = setInterval(() => onTick(target.server.pid, requestsSoFar), 5000);
      } else if (message.type === 'progress') {
        requestsSoFar = message.requests ?? requestsSoFar;
      } else if (message.type === 'result' && message.result !== undefined && before !== undefined) {
        clearInterval(ticker);
        const after = sampleProcess(target.server.pid);
        const busyMs = machineBusyMs() - before.busyMs;
        const wallMs = performance.now() - before.at;
        const r = message.result;
        const serverCpuMs = after.cpuMs - before.server.cpuMs;
        const loadgenCpuMs = (r.loadgenCpuPct / 100) * r.seconds * 1000;
        resolve({
          rps: r.rps,
          requests: r.requests,
          p50Ms: r.p50Ms,
          p99Ms: r.p99Ms,
          cpuUsPerRequest: (serverCpuMs * 1000) / Math.max(1, r.requests),
          serverCpuPct: (serverCpuMs / wallMs) * 100,
          loadgenCpuPct: r.loadgenCpuPct,
          otherCpuPct: Math.max(0, ((busyMs - serverCpuMs - loadgenCpuMs) / wallMs) * 100),
          rssMb: after.rssKb / 1024,
          peakRssMb: after.hwmKb / 1024,
          statuses: r.statuses,
          errors: r.errors,
        });
      }
    });
    child.on('exit', (code) => {
      clearTimeout(killer);
      clearInterval(ticker);
      if (code !== 0) reject(new Error(`the load generator for ${target.key} exited with ${code}`));
    });
  });
}
