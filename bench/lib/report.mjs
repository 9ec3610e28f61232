// Turns a benchmark run into docs/benchmarks.md: medians, every repetition, targets met or missed.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * @typedef {object} Sample  one measured run of one row
 * @property {number} rps
 * @property {number} requests
 * @property {number} p50Ms
 * @property {number} p99Ms
 * @property {number} cpuUsPerRequest  the server process's user+system CPU time over the run / responses
 * @property {number} serverCpuPct  of one core
 * @property {number} loadgenCpuPct  of one core
 * @property {number} otherCpuPct  the rest of the machine's busy time over the run, of one core
 * @property {number} rssMb  the server's resident memory at the end of the run
 * @property {number} peakRssMb  the server's peak resident memory (VmHWM) since the measured runs began
 * @property {Record<string, number>} statuses
 * @property {number} errors
 */

/**
 * @typedef {object} Row
 * @property {string} key
 * @property {string} label
 * @property {string} description
 * @property {number[]} expectedStatuses
 * @property {Sample[]} samples
 * @property {number} startupPeakRssMb  VmHWM over start-up and warm-up
 */

/**
 * @typedef {object} Soak
 * @property {number} seconds
 * @property {{ t: number, rssMb: number, logBacklog: number }[]} memory  every 5 s; logBacklog: responses whose log line was not in the log file yet
 * @property {Sample} sample
 * @property {{ t: number, mb: number }[]} heapAfterGc  V8's live heap after each full (mark-compact) collection
 * @property {number} bytesPerLine  average size of a request's log line
 */

/**
 * @typedef {object} StoreRow
 * @property {string} store
 * @property {string} mode
 * @property {number} keys
 * @property {number} decisions
 * @property {number[]} nsPerDecision
 * @property {number[]} [cpuNsPerDecision]
 * @property {number} entriesPerKey
 */

/**
 * @typedef {object} Report
 * @property {string} runId
 * @property {string} started
 * @property {string} finished
 * @property {string} command
 * @property {{ cpus: number, cpuModel: string, memoryGb: number, node: string, kernel: string, autocannon: string, loadBefore: number[], loadAfter: number[] }} machine
 * @property {{ commit: string, dirty: boolean }} code
 * @property {{ duration: number, reps: number, warmup: number, connections: number, users: number }} settings
 * @property {boolean} postgres
 * @property {boolean} peaksReset  whether VmHWM could be reset after warm-up
 * @property {boolean} redisUrlSet
 * @property {Row[]} rows
 * @property {Soak | null} soak
 * @property {StoreRow[]} stores
 */

/** @param {number[]} xs */
export const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length === 0 ? NaN : s.length % 2 === 1 ? (s[mid] ?? NaN) : ((s[mid - 1] ?? NaN) + (s[mid] ?? NaN)) / 2;
};

const fmt = {
  int: (/** @type {number} */ n) => (Number.isFinite(n) ? Math.round(n).toLocaleString('en-US') : '–'),
  ms: (/** @type {number} */ n) => (Number.isFinite(n) ? n.toFixed(2) : '–'),
  one: (/** @type {number} */ n) => (Number.isFinite(n) ? n.toFixed(1) : '–'),
  pct: (/** @type {number} */ n) => (Number.isFinite(n) ? `${Math.round(n)}%` : '–'),
  x: (/** @type {number} */ n) => (Number.isFinite(n) ? `${n.toFixed(2)}×` : '–'),
};

/** @param {Record<string, number>} statuses */
const statusText = (statuses) =>
  Object.entries(statuses)
    .sort(([a], [b]) => Number(a) - Number(b))
    .map(([code, n]) => `${code}: ${fmt.int(n)}`)
    .join(', ');

/** @param {Row} row @param {keyof Sample} metric */
const med = (row, metric) => median(row.samples.map((s) => /** @type {number} */ (s[metric])));

/** Responses with a status the row does not expect (e.g. a 429 in a row meant to measure 200s). @param {Row} row */
const unexpected = (row) =>
  row.samples.reduce(
    (n, s) =>
      n +
      s.errors +
      Object.entries(s.statuses)
        .filter(([code]) => !row.expectedStatuses.includes(Number(code)))
        .reduce((m, [, c]) => m + c, 0),
    0,
  );

/**
 * @typedef {object} Verdict
 * @property {string} target
 * @property {string} measured
 * @property {string} range  the same ratio run by run (runs are interleaved, so run i of each row is paired)
 * @property {boolean | null} met  null when not measured in this run
 * @property {string} [floor]  the same ratio for the floor row, where the target is against the limit
 */

/**
 * @param {Report} report
 * @returns {Verdict[]}
 */
export function verdicts(report) {
  const row = (/** @type {string} */ key) => report.rows.find((r) => r.key === key);
  const limit = row('limit');
  const gh = row('gatehouse');
  /** @type {Verdict[]} */
  const out = [];
  /**
   * @param {string} target
   * @param {Row | undefined} a
   * @param {Row | undefined} b
   * @param {keyof Sample} metric
   * @param {(ratio: number) => boolean} ok
   * @param {Row | undefined} [floorRow]  the floor's ratio to `b` is shown alongside
   */
  const ratio = (target, a, b, metric, ok, floorRow) => {
    if (a === undefined || b === undefined) {
      out.push({ target, measured: 'not measured in this run', range: '', met: null });
      return;
    }
    const r = med(a, metric) / med(b, metric);
    const perRun = a.samples.map((s, i) => {
      const other = b.samples[i];
      return other === undefined ? NaN : /** @type {number} */ (s[metric]) / /** @type {number} */ (other[metric]);
    });
    out.push({
      target,
      measured: fmt.x(r),
      range: `${fmt.x(Math.min(...perRun))} – ${fmt.x(Math.max(...perRun))}`,
      met: ok(r),
      floor: floorRow === undefined ? undefined : fmt.x(med(floorRow, metric) / med(b, metric)),
    });
  };
  // The floor's ratios only mean something if it answered as it should throughout.
  const floorRow = row('floor');
  const floor = floorRow !== undefined && unexpected(floorRow) === 0 ? floorRow : undefined;
  ratio('gatehouse (SQLite) throughput ≥ 0.60× limit', gh, limit, 'rps', (r) => r >= 0.6, floor);
  ratio('gatehouse (SQLite) CPU per request ≤ 1.7× limit', gh, limit, 'cpuUsPerRequest', (r) => r <= 1.7, floor);
  ratio('gatehouse (SQLite) throughput ≥ 2× peer', gh, row('peer'), 'rps', (r) => r >= 2);
  ratio('gatehouse (SQLite) p99 ≤ 2× limit', gh, limit, 'p99Ms', (r) => r <= 2, floor);
  ratio('rejections, one address: throughput ≥ 0.80× limit', row('reject-one'), limit, 'rps', (r) => r >= 0.8);
  ratio('rejections, many addresses: throughput ≥ 0.80× limit', row('reject-many'), limit, 'rps', (r) => r >= 0.8);
  if (report.soak === null) {
    out.push({
      target: 'gatehouse (SQLite) memory flat (within 10%) over a 2-minute soak',
      measured: 'not measured in this run (`npm run bench -- --soak`)',
      range: '',
      met: null,
    });
  } else {
    const { growth, rise, spread, flat } = soakSpread(report.soak);
    out.push({
      target: 'gatehouse (SQLite) memory flat (within 10%) over a 2-minute soak',
      measured: `RSS last 30 s / first 30 s ${fmt.x(growth)}; highest / median ${fmt.x(rise)} (max/min ${fmt.x(spread)})`,
      range: '',
      met: flat,
    });
  }
  if (report.postgres) {
    ratio(
      'gatehouse (PostgreSQL + Redis) throughput ≥ 0.45× limit',
      row('gatehouse-pg'),
      limit,
      'rps',
      (r) => r >= 0.45,
      floor,
    );
  } else {
    out.push({
      target: 'gatehouse (PostgreSQL + Redis) throughput ≥ 0.45× limit',
      measured: 'not measured in this run (DATABASE_URL and REDIS_URL unset)',
      range: '',
      met: null,
    });
  }
  return out;
}

/**
 * RSS samples from 10 s on (the first seconds include connection set-up). Flat means both: the
 * median of the last 30 s is within 10% of the median of the first 30 s (`growth`: memory that
 * keeps growing shows here), and no sample rises more than 10% above the soak's median (`rise`:
 * a spike shows here). The lowest samples come right after full collections, when V8 hands
 * memory back, so max/min (`spread`) measures the collector's sawtooth rather than growth; it
 * is reported, not judged.
 * @param {Soak} soak
 */
export function soakSpread(soak) {
  const settled = soak.memory.filter((m) => m.t >= 10);
  const rss = settled.map((m) => m.rssMb);
  const max = Math.max(...rss);
  const min = Math.min(...rss);
  const mid = median(rss);
  const end = settled.at(-1)?.t ?? 0;
  const first = median(settled.filter((m) => m.t < 40).map((m) => m.rssMb));
  const last = median(settled.filter((m) => m.t > end - 30).map((m) => m.rssMb));
  const growth = last / first;
  const rise = max / mid;
  return { max, min, median: mid, first, last, growth, rise, spread: max / min, flat: growth <= 1.1 && rise <= 1.1 };
}

/** @param {string[][]} rows @param {string[]} header */
function table(header, rows) {
  const line = (/** @type {string[]} */ cells) => `| ${cells.join(' | ')} |`;
  return [line(header), line(header.map(() => '---')), ...rows.map(line)].join('\n');
}

/**
 * @param {Report} report
 * @returns {string}
 */
export function renderReport(report) {
  const { machine: m, settings: s } = report;
  const limitRow = report.rows.find((r) => r.key === 'limit');
  const vs = (/** @type {Row} */ row, /** @type {keyof Sample} */ metric) =>
    limitRow === undefined ? '–' : fmt.x(med(row, metric) / med(limitRow, metric));
  const v = verdicts(report);
  const mark = (/** @type {boolean | null} */ met) => (met === null ? '—' : met ? '**met**' : '**missed**');
  const suspect = report.rows.filter((r) => unexpected(r) > 0);

  const parts = [
    '# Benchmarks',
    '',
    '<!-- Written by `npm run bench` (bench/run.mjs); rerun it rather than editing this file. -->',
    '',
    'The authenticated hot path, `GET /core/users/me` with a user app token, measured against the limit (a bare Fastify route) and a conventional peer (Express + passport), side by side in one run on one machine. Each server runs in its own process; the load generator (autocannon) runs in another, over loopback. The runs of all rows are interleaved (run 1 of every row, then run 2, …) so that drift on this shared machine hits every row alike, and every run is listed so the noise shows. The targets come from the benchmark issue.',
    '',
    '## How to run',
    '',
    '```sh',
    'npm run bench                 # build, then every row below: a few minutes',
    'npm run bench -- --soak       # plus a memory soak of gatehouse (SQLite): 1 minute of warm-up, 2 measured',
    'DATABASE_URL=postgres://… REDIS_URL=redis://… npm run bench   # plus gatehouse on PostgreSQL + Redis, and Redis in the store micro-benchmark',
    'node bench/run.mjs --help     # run length, repetitions, connections',
    "node bench/ab.mjs --limit --variant 'now:' --variant 'no cache:GATEHOUSE_CREDENTIAL_CACHE_SIZE=0'   # variants side by side",
    "node bench/ab.mjs --limit --variant 'session start:main=/tmp/start/packages/server/dist/main.js' --variant 'now:'   # against an earlier build (see bench/README.md)",
    'node bench/profile.mjs --target gatehouse   # where the CPU time goes (also gatehouse-pg, reject-one, reject-many, peer, limit, floor)',
    'node bench/profile.mjs --target gatehouse --perf   # the same with Linux perf, kernel and native code included',
    '```',
    '',
    'Use a throwaway PostgreSQL database: the run adds benchmark users there (archived again at the end, which revokes their tokens) and sets `rate_limit_per_minute` for its duration. Raw numbers of every run go to `bench/results/` (not committed).',
    '',
    '## This run',
    '',
    `- Date: ${report.started} to ${report.finished}`,
    `- Command: \`${report.command}\``,
    `- Code: commit ${report.code.commit}${report.code.dirty ? ', with uncommitted changes in packages/' : ''}`,
    `- Machine: ${m.cpus} cores (\`nproc\`), ${m.cpuModel}, ${m.memoryGb.toFixed(0)} GiB; ${m.kernel}; Node ${m.node}`,
    `- Load: autocannon ${m.autocannon}, ${s.connections} connections, ${s.duration} s per run, ${s.reps} runs per row after ${s.warmup} s of warm-up; the valid-token rows spread their connections over ${s.users} developer users, one token each`,
    `- Load average (1, 5, 15 min) before: ${m.loadBefore.map((x) => x.toFixed(2)).join(', ')}; after: ${m.loadAfter.map((x) => x.toFixed(2)).join(', ')}. The machine is shared: "other CPU" below is what the rest of the machine used during each run.`,
    '',
    `## Results (median of ${s.reps} runs)`,
    '',
    table(
      [
        'row',
        'req/s',
        'vs limit',
        'p50 ms',
        'p99 ms',
        'CPU µs/req',
        'vs limit',
        'RSS MB',
        'peak RSS MB under load',
        'peak RSS MB start-up',
        'responses (all runs)',
      ],
      report.rows.map((r) => [
        r.label,
        fmt.int(med(r, 'rps')),
        vs(r, 'rps'),
        fmt.ms(med(r, 'p50Ms')),
        fmt.ms(med(r, 'p99Ms')),
        fmt.one(med(r, 'cpuUsPerRequest')),
        vs(r, 'cpuUsPerRequest'),
        fmt.one(med(r, 'rssMb')),
        fmt.one(Math.max(...r.samples.map((x) => x.peakRssMb))),
        fmt.one(r.startupPeakRssMb),
        statusText(
          r.samples.reduce(
            (acc, x) => {
              for (const [code, n] of Object.entries(x.statuses)) acc[code] = (acc[code] ?? 0) + n;
              return acc;
            },
            /** @type {Record<string, number>} */ ({}),
          ),
        ),
      ]),
    ),
    '',
    ...(suspect.length > 0
      ? [
          `**Warning:** ${suspect.map((r) => `${r.label} had ${fmt.int(unexpected(r))} unexpected responses or errors`).join('; ')}: those numbers do not measure what the row says.`,
          '',
        ]
      : []),
    ...history(),
    '## Targets',
    '',
    table(
      ['target', 'measured (medians)', 'run by run', 'verdict', 'the floor, same ratio'],
      v.map((x) => [x.target, x.measured, x.range || '—', mark(x.met), x.floor ?? '—']),
    ),
    '',
    ...(report.rows.some((r) => r.key === 'floor')
      ? [
          'The last column is the floor row measured in the same run: a Fastify app that answers exactly as Gatehouse does (body, headers, one log line per request) with nothing but a Map behind its tokens. Where the floor itself misses a target, no authentication code can meet it on this machine with that answer and that logging.',
          '',
        ]
      : []),
    '## Every run',
    '',
    table(
      [
        'row',
        'run',
        'req/s',
        'p50 ms',
        'p99 ms',
        'CPU µs/req',
        'server CPU',
        'load generator CPU',
        'other CPU',
        'RSS MB',
        'responses',
      ],
      report.rows.flatMap((r) =>
        r.samples.map((x, i) => [
          r.label,
          String(i + 1),
          fmt.int(x.rps),
          fmt.ms(x.p50Ms),
          fmt.ms(x.p99Ms),
          fmt.one(x.cpuUsPerRequest),
          fmt.pct(x.serverCpuPct),
          fmt.pct(x.loadgenCpuPct),
          fmt.pct(x.otherCpuPct),
          fmt.one(x.rssMb),
          statusText(x.statuses) + (x.errors > 0 ? `, errors: ${x.errors}` : ''),
        ]),
      ),
    ),
    '',
    'CPU percentages are of one core; the machine has ' +
      `${m.cpus}. When server + load generator + other CPU reach about ${m.cpus * 100}%, the run was CPU-bound and its req/s say as much about the neighbours as about the server; CPU per request is the steadier figure.`,
    '',
    '## Cost of a rate-limit decision',
    '',
    'The built stores (`packages/server/dist/ratelimit/`) called as the gateway calls them: `store.hit(key, 100000, 60000, now)`, awaited only when it returns a promise (Redis; the in-process store decides at once), keys hit in turn, a simulated clock advancing 1 ms per decision, so a key hit every millisecond holds 60,000 requests in its window. Time is wall time per decision (for Redis, the round trip included), median of 3 runs after a warm-up.',
    '',
    table(
      [
        'store',
        'calls',
        'keys',
        'requests in a key’s window',
        'per decision (median)',
        'runs',
        'Node CPU per decision',
      ],
      report.stores.map((x) => [
        x.store,
        x.mode,
        fmt.int(x.keys),
        fmt.int(x.entriesPerKey),
        nanos(median(x.nsPerDecision)),
        x.nsPerDecision.map(nanos).join(', '),
        x.cpuNsPerDecision === undefined ? '–' : nanos(median(x.cpuNsPerDecision)),
      ]),
    ),
    '',
    report.redisUrlSet ? '' : 'Redis: not measured in this run (REDIS_URL unset).\n',
    '## Memory soak',
    '',
    ...soakSection(report.soak),
    '## The rows',
    '',
    ...report.rows.map((r) => `- **${r.label}**: ${r.description}.`),
    '',
    '## Method',
    '',
    '- Every server listens on 127.0.0.1 in its own child process; autocannon runs in a separate process (`bench/load.mjs`) and every run is bounded in time. Latency percentiles are computed from every response time autocannon reports (sub-millisecond, all statuses), not from its millisecond histogram.',
    '- CPU per request is the server process’s user + system CPU time (`/proc/<pid>/stat` utime + stime) from the first request to the last, divided by the responses received. It counts every thread of the process (garbage collection, libuv), not just the main one. RSS is `/proc/<pid>/status` VmRSS at the end of a run. Peak RSS under load is VmHWM after it was reset (`/proc/<pid>/clear_refs`) at the end of the warm-up; peak RSS at start-up is VmHWM before that reset (for Gatehouse it includes the one-off 128 MiB scrypt hash made at start).' +
      (report.peaksReset ? '' : ' In this run VmHWM could not be reset, so both peaks are peaks since start-up.'),
    '- Gatehouse is the built server (`node packages/server/dist/main.js`) on a temporary data folder, with `LOG_LEVEL=info` and its standard output to a file: one JSON log line per request. The users, tokens and `rate_limit_per_minute = 100000` are set with the operator CLI. A user’s limit is shared by its tokens, and 100000 a minute is the highest the setting allows, so the valid-token rows spread their connections over several users to stay under it; any 429 would show in the responses column and be flagged above.',
    '- The peer is the same endpoint written the usual Express way (`bench/servers/peer.mjs`): passport-http-bearer looks the token’s SHA-256 up in the same SQLite file, joined to its user, express-rate-limit counts per user, and the body is a JSON:API-shaped user. It logs nothing, which flatters it slightly against Gatehouse’s per-request log line.',
    '',
  ];
  return `${parts.join('\n').replace(/\n{3,}/g, '\n\n')}`;
}

/** @param {number} ns */
function nanos(ns) {
  if (!Number.isFinite(ns)) return '–';
  return ns >= 10_000
    ? `${(ns / 1000).toFixed(1)} µs`
    : ns >= 1000
      ? `${(ns / 1000).toFixed(2)} µs`
      : `${Math.round(ns)} ns`;
}

/**
 * Earlier runs, kept by hand in bench/history.md (ratios within each run: machines differ
 * between runs, so absolute figures from different days do not compare).
 */
function history() {
  const file = path.join(path.dirname(fileURLToPath(import.meta.url)), '../history.md');
  if (!fs.existsSync(file)) return [];
  return ['## Before and after', '', fs.readFileSync(file, 'utf8').trim(), ''];
}

/** @param {Soak | null} soak */
function soakSection(soak) {
  if (soak === null) return ['Not run (it takes 3 more minutes): `npm run bench -- --soak`.', ''];
  const { max, min, median: mid, first, last, growth, rise, spread } = soakSpread(soak);
  return [
    `gatehouse (SQLite), a fresh process started with \`--trace-gc\`, first loaded for 60 s (one rate-limit window: the per-user request logs grow to their steady size during it, by design), then under ${soak.seconds} s of continuous load at the same settings: ${fmt.int(soak.sample.rps)} req/s, p99 ${fmt.ms(soak.sample.p99Ms)} ms, ${fmt.one(soak.sample.cpuUsPerRequest)} µs CPU/req. Resident memory and log backlog every 5 s:`,
    '',
    table(
      ['s', ...soak.memory.map((x) => String(x.t))],
      [
        ['RSS MB', ...soak.memory.map((x) => fmt.one(x.rssMb))],
        ['log backlog', ...soak.memory.map((x) => fmt.int(x.logBacklog))],
      ],
    ),
    '',
    `From 10 s on, "flat" is judged by growth and by spikes: the median of the last 30 s is ${fmt.one(last)} MB against ${fmt.one(first)} MB in the first 30 s (${fmt.x(growth)}), and the highest sample is ${fmt.one(max)} MB against a median of ${fmt.one(mid)} MB (${fmt.x(rise)}). The lowest is ${fmt.one(min)} MB (max/min ${fmt.x(spread)}): low points come right after full collections, when V8 hands memory back, so they measure the collector's sawtooth, not growth.`,
    '',
    ...heapSection(soak),
    `Log backlog: responses whose request log line had not reached the log file yet (an estimate, from the file's size and ${fmt.int(soak.bytesPerLine)} bytes a line). Gatehouse writes its log in batches of about 8 KiB (at most a second late), so a few dozen lines wait at any time; the backlog is capped at 16 MiB, beyond which lines are dropped and counted in \`gatehouse_log_lines_dropped_total\`. A backlog that keeps growing would be memory that keeps growing.`,
    '',
  ];
}

/** The live heap after each full collection: flat means no leak, whatever RSS does. @param {Soak} soak */
function heapSection(soak) {
  const settled = soak.heapAfterGc.filter((x) => x.t >= 10);
  if (settled.length === 0) return ['No full collection was traced during the soak.', ''];
  const mbs = settled.map((x) => x.mb);
  return [
    `Live JavaScript heap after each full (mark-compact) collection, from the server's \`--trace-gc\` output: ${settled.map((x) => `${fmt.one(x.mb)} MB at ${x.t} s`).join(', ')}. From 10 s on: min ${fmt.one(Math.min(...mbs))} MB, max ${fmt.one(Math.max(...mbs))} MB. RSS also holds V8's headroom between collections, freed memory not yet returned, and native memory (SQLite, sockets, buffers).`,
    '',
  ];
}
