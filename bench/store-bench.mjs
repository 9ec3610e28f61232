// Micro-benchmark of one rate-limit decision: the built MemoryStore's and RedisStore's hit(), as the
// gateway calls it (awaited, limit 100000 a minute, 60 s window), over N keys hit in turn while a
// simulated clock advances 1 ms per decision. Redis runs only when REDIS_URL is set, under a key
// prefix of its own that is deleted afterwards. Prints one JSON document on standard output.
import { randomBytes } from 'node:crypto';
import { MemoryStore } from '../packages/server/dist/ratelimit/memory-store.js';
import { RedisStore } from '../packages/server/dist/ratelimit/redis-store.js';

const LIMIT = 100_000;
const WINDOW_MS = 60_000;
const KEY_COUNTS = [1, 1_000, 100_000];
const REPS = 3;

/**
 * @typedef {object} StoreRow
 * @property {string} store
 * @property {string} mode  how the decisions were issued
 * @property {number} keys
 * @property {number} decisions  per repetition
 * @property {number[]} nsPerDecision  wall time, one per repetition
 * @property {number[]} cpuNsPerDecision  this process's CPU time, one per repetition
 * @property {number} entriesPerKey  requests held in one key's window at the end
 */

/**
 * Times `decisions` awaited hits, `inFlight` at a time, keys in turn; the clock goes on across calls.
 * @param {{ hit: (key: string, limit: number, windowMs: number, nowMs: number) => unknown }} store
 * @param {string[]} keys
 * @param {number} decisions
 * @param {number} inFlight
 * @param {{ now: number, i: number }} state
 */
async function timeHits(store, keys, decisions, inFlight, state) {
  const cpu = process.cpuUsage();
  const started = process.hrtime.bigint();
  const worker = async (/** @type {number} */ share) => {
    for (let n = 0; n < share; n++) {
      const i = state.i++;
      // As the gateway does: the in-process store decides at once, Redis answers with a promise.
      const decided = store.hit(/** @type {string} */ (keys[i % keys.length]), LIMIT, WINDOW_MS, state.now++);
      if (decided instanceof Promise) await decided;
    }
  };
  const shares = Array.from(
    { length: inFlight },
    (_, w) => Math.floor(decisions / inFlight) + (w < decisions % inFlight ? 1 : 0),
  );
  await Promise.all(shares.map(worker));
  const wallNs = Number(process.hrtime.bigint() - started);
  const { user, system } = process.cpuUsage(cpu);
  return { ns: wallNs / decisions, cpuNs: ((user + system) * 1000) / decisions };
}

/**
 * @param {string} name
 * @param {string} mode
 * @param {{ hit: (key: string, limit: number, windowMs: number, nowMs: number) => unknown, peek: (key: string, limit: number, windowMs: number, nowMs: number) => unknown }} store
 * @param {number} keyCount
 * @param {number} decisions
 * @param {number} inFlight
 * @param {string} keyPrefix
 * @returns {Promise<StoreRow>}
 */
async function measure(name, mode, store, keyCount, decisions, inFlight, keyPrefix) {
  const keys = Array.from({ length: keyCount }, (_, k) => `${keyPrefix}default:user-${k}`);
  const state = { now: Date.now(), i: 0 };
  await timeHits(store, keys, Math.min(decisions, 20_000), inFlight, state); // warm-up
  const ns = [];
  const cpuNs = [];
  for (let r = 0; r < REPS; r++) {
    const t = await timeHits(store, keys, decisions, inFlight, state);
    ns.push(t.ns);
    cpuNs.push(t.cpuNs);
  }
  const last = /** @type {{ remaining: number }} */ (
    await store.peek(/** @type {string} */ (keys[0]), LIMIT, WINDOW_MS, state.now)
  );
  return {
    store: name,
    mode,
    keys: keyCount,
    decisions,
    nsPerDecision: ns,
    cpuNsPerDecision: cpuNs,
    entriesPerKey: LIMIT - last.remaining,
  };
}

/** @type {StoreRow[]} */
const rows = [];

for (const keyCount of KEY_COUNTS) {
  const memory = new MemoryStore();
  rows.push(await measure('memory', 'sequential', memory, keyCount, 300_000, 1, ''));
  await memory.close();
}

const redisUrl = process.env.REDIS_URL;
if (redisUrl !== undefined && redisUrl !== '') {
  const prefix = `gatehouse:bench:${randomBytes(4).toString('hex')}:`;
  const redis = new RedisStore(redisUrl, { keyPrefix: prefix, commandTimeoutMs: 5000 });
  if (!(await redis.ready(5000))) throw new Error(`Redis at REDIS_URL is not reachable`);
  try {
    for (const keyCount of KEY_COUNTS) {
      // Each case gets its own keys, so an earlier case's logs do not weigh on a later one.
      rows.push(await measure('redis', 'sequential (1 in flight)', redis, keyCount, 10_000, 1, `seq${keyCount}:`));
      rows.push(await measure('redis', 'concurrent (64 in flight)', redis, keyCount, 50_000, 64, `par${keyCount}:`));
    }
  } finally {
    let cursor = '0';
    do {
      const [next, found] = await redis.client.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
      cursor = next;
      // The client adds its prefix to every key it is given, so strip it from the keys SCAN returns.
      const keys = found.map((k) => k.slice(prefix.length));
      if (keys.length > 0) await redis.client.del(...keys);
    } while (cursor !== '0');
    await redis.close();
  }
}

process.stdout.write(`${JSON.stringify({ rows })}\n`);
