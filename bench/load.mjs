// The load generator, in its own process: one bounded autocannon run against one URL. The
// parent passes the plan as JSON in argv[2] and gets IPC messages: { type: 'started' } right
// before the first request, { type: 'progress', requests } every second and { type: 'result', result } at the end.
import autocannon from 'autocannon';

/**
 * @typedef {object} LoadPlan
 * @property {string} url
 * @property {number} connections
 * @property {number} durationSec
 * @property {Record<string, string>[]} connectionHeaders  headers for connection i are entry i modulo the length
 * @property {boolean} [rotateForwardedFor]  a new X-Forwarded-For address (198.18.0.0/15, the benchmarking range) on every request
 */

/**
 * @typedef {object} LoadResult
 * @property {number} requests  responses received
 * @property {number} seconds  wall time of the run
 * @property {number} rps
 * @property {number} p50Ms
 * @property {number} p99Ms
 * @property {number} meanMs
 * @property {Record<string, number>} statuses  responses by status code
 * @property {number} errors  connection errors and timeouts
 * @property {number} loadgenCpuPct  this process's CPU time over the run, % of one core
 */

const plan = /** @type {LoadPlan} */ (JSON.parse(process.argv[2] ?? '{}'));
const send = (/** @type {unknown} */ message) =>
  new Promise((resolve) => (process.send ? process.send(message, undefined, {}, resolve) : resolve(undefined)));

let latencies = new Float64Array(1 << 18);
let count = 0;
/** @type {Record<string, number>} */
const statuses = {};
let connection = 0;
let forwarded = 0;

/** @param {number} ms */
function record(ms) {
  if (count === latencies.length) {
    const bigger = new Float64Array(latencies.length * 2);
    bigger.set(latencies);
    latencies = bigger;
  }
  latencies[count++] = ms;
}

/** @param {Float64Array} sorted @param {number} q */
const quantile = (sorted, q) =>
  sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))] ?? NaN;

await send({ type: 'started' });
const cpuBefore = process.cpuUsage();
const started = performance.now();
/**
 * What autocannon returns without a callback: a promise of the summary that also emits
 * 'response' (client, status, bytes, ms) for every response (its published types miss the client).
 * @typedef {Promise<import('autocannon').Result> & { on(event: 'response', listener: (client: unknown, statusCode: number, bytes: number, responseTimeMs: number) => void): void }} Tracker
 */
const instance = /** @type {Tracker} */ (
  /** @type {unknown} */ (
    autocannon({
      url: plan.url,
      connections: plan.connections,
      duration: plan.durationSec,
      timeout: 10,
      setupClient: (client) => {
        if (plan.rotateForwardedFor) return;
        const headers = plan.connectionHeaders[connection++ % Math.max(1, plan.connectionHeaders.length)];
        if (headers !== undefined) client.setHeaders(headers);
      },
      requests: plan.rotateForwardedFor
        ? [
            {
              // The request objects are shared by every connection, so the headers are set here in full.
              setupRequest: (request) => {
                const n = forwarded++;
                const a = n & 0x1ffff;
                const address = `198.${18 + (a >> 16)}.${(a >> 8) & 255}.${a & 255}`;
                const base = plan.connectionHeaders[n % Math.max(1, plan.connectionHeaders.length)];
                return { ...request, headers: { ...base, 'x-forwarded-for': address } };
              },
            },
          ]
        : undefined,
    })
  )
);
instance.on('response', (_client, statusCode, _bytes, responseTime) => {
  record(responseTime);
  statuses[statusCode] = (statuses[statusCode] ?? 0) + 1;
});
// Responses so far, for a parent that samples the server during a long run.
const progress = setInterval(() => void send({ type: 'progress', requests: count }), 1000);
const summary = await instance;
clearInterval(progress);
const seconds = (performance.now() - started) / 1000;
const cpu = process.cpuUsage(cpuBefore);
const sorted = latencies.slice(0, count).sort();
let sum = 0;
for (const v of sorted) sum += v;

/** @type {LoadResult} */
const result = {
  requests: count,
  seconds,
  rps: count / seconds,
  p50Ms: quantile(sorted, 0.5),
  p99Ms: quantile(sorted, 0.99),
  meanMs: count > 0 ? sum / count : NaN,
  statuses,
  errors: summary.errors + summary.timeouts,
  loadgenCpuPct: ((cpu.user + cpu.system) / 1000 / (seconds * 1000)) * 100,
};
await send({ type: 'result', result });
process.exit(0);
