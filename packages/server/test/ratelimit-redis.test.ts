import { type ChildProcess, spawn } from 'node:child_process';
import { randomInt } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { startTestApp } from './harness.js';

const REDIS_URL = process.env.REDIS_URL;

/** A redis-server of the test's own, so it can be stopped and started mid-run. */
function startRedis(port: number): Promise<ChildProcess> {
  return new Promise((resolve, reject) => {
    const child = spawn('redis-server', [
      '--port',
      String(port),
      '--bind',
      '127.0.0.1',
      '--save',
      '',
      '--appendonly',
      'no',
    ]);
    const timer = setTimeout(() => reject(new Error('redis-server did not start')), 10_000);
    child.stdout?.on('data', (d: Buffer) => {
      if (d.toString().includes('Ready to accept connections')) {
        clearTimeout(timer);
        resolve(child);
      }
    });
    child.on('error', reject);
  });
}

const stopRedis = (child: ChildProcess) =>
  new Promise<void>((resolve) => {
    child.once('exit', () => resolve());
    child.kill('SIGKILL');
  });

describe.skipIf(REDIS_URL === undefined)('rate limits shared through Redis', () => {
  it('two app instances share one limit', async () => {
    const a = await startTestApp('sqlite', { redisUrl: REDIS_URL });
    const b = await startTestApp('sqlite', { redisUrl: REDIS_URL, database: a.database, clock: a.clock });
    try {
      const { token } = await a.userWithToken();
      const results = await Promise.all(
        Array.from({ length: 200 }, (_, i) =>
          (i % 2 === 0 ? a : b).inject({ method: 'GET', url: '/core/users/me', headers: a.bearer(token) }),
        ),
      );
      const accepted = results.filter((r) => r.statusCode === 200).length;
      // The issue allows limit × 1.1; the Lua script is atomic, so the bound is exact.
      expect(accepted).toBe(60);
    } finally {
      await b.close();
      await a.close();
    }
  });

  it('counts failed sign-ins across nodes', async () => {
    const a = await startTestApp('sqlite', { redisUrl: REDIS_URL });
    const b = await startTestApp('sqlite', { redisUrl: REDIS_URL, database: a.database, clock: a.clock });
    try {
      const password = 'the right password for this';
      const user = await a.createUser(['developer'], { password });
      const login = (node: typeof a, pw: string) =>
        node.inject({
          method: 'POST',
          url: '/auth/login',
          payload: { email: user.email, password: pw },
          remoteAddress: `10.${randomInt(256)}.${randomInt(256)}.${randomInt(1, 255)}`,
        });
      for (let i = 0; i < 5; i++) expect((await login(i % 2 === 0 ? a : b, 'wrong password')).statusCode).toBe(401);
      const blocked = await login(b, password);
      expect(blocked.statusCode).toBe(429);
      expect(Number(blocked.headers['retry-after'])).toBeGreaterThan(800);
      expect((await login(a, password)).statusCode).toBe(429);
    } finally {
      await b.close();
      await a.close();
    }
  });

  it('falls back to per-node limits while Redis is down, then recovers by itself', async () => {
    const port = 30_000 + randomInt(9_000);
    let redis = await startRedis(port);
    const t = await startTestApp('sqlite', { redisUrl: `redis://127.0.0.1:${port}` });
    try {
      const { token } = await t.userWithToken();
      const me = () => t.inject({ method: 'GET', url: '/core/users/me', headers: t.bearer(token) });
      for (let i = 0; i < 10; i++) expect((await me()).statusCode).toBe(200);

      await stopRedis(redis);
      // Authentication is unaffected and limits still hold, per node.
      const during: number[] = [];
      for (let i = 0; i < 70; i++) during.push((await me()).statusCode);
      expect(during.every((s) => s === 200 || s === 429)).toBe(true);
      expect(during.filter((s) => s === 200)).toHaveLength(60);
      const metrics = await t.inject({ method: 'GET', url: '/metrics' });
      const fallbacks = /gatehouse_rate_limit_store_fallbacks_total (\d+)/.exec(metrics.body)?.[1];
      expect(Number(fallbacks)).toBeGreaterThanOrEqual(70);
      expect(t.logs.some((l) => l.includes('rate-limit store unreachable'))).toBe(true);

      redis = await startRedis(port);
      // The restarted Redis is empty: once the app reconnects, the user is under its limit again.
      let recovered = false;
      for (let i = 0; i < 50 && !recovered; i++) {
        await sleep(200);
        recovered = (await me()).statusCode === 200;
      }
      expect(recovered).toBe(true);
      expect(t.logs.some((l) => l.includes('rate-limit store is back'))).toBe(true);
    } finally {
      await t.close();
      await stopRedis(redis);
    }
  });
});
