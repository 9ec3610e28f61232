import { randomBytes } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createFrontDoor, REFUSAL_SUMMARY_MS } from '../src/gateway/front-door.js';
import { FAILED_AUTH_LIMIT_PER_MINUTE } from '../src/ratelimit/limiter.js';
import { startTestApp } from './harness.js';

// Over real sockets: the front door sits before Fastify's handler, which `inject` never passes.
describe('the front door: addresses blocked for failed authentications (over HTTP)', () => {
  let t: Awaited<ReturnType<typeof startTestApp>>;
  let base: string;
  let valid: string;
  const blocked = '198.51.100.40';
  const other = '198.51.100.41';
  beforeAll(async () => {
    t = await startTestApp('sqlite', { trustedProxies: ['127.0.0.1'] });
    base = await t.app.listen({ host: '127.0.0.1', port: 0 });
    valid = (await t.userWithToken()).token;
  });
  afterAll(async () => t.close());

  const get = (path: string, from: string, headers: Record<string, string> = {}) =>
    fetch(`${base}${path}`, { headers: { 'x-forwarded-for': from, ...headers } });
  const guess = (from: string) =>
    get('/core/users/me', from, { authorization: `Bearer ${randomBytes(24).toString('hex')}` });
  const linesAbout = (id: string) => t.logs.filter((line) => line.includes(id));

  it('answers a blocked address before routing, with the gateway’s 429, and logs no line per request', async () => {
    for (let i = 0; i < FAILED_AUTH_LIMIT_PER_MINUTE; i++) expect((await guess(blocked)).status).toBe(401);
    // The gateway answers the request that finds the block, and this node remembers it.
    const first = await guess(blocked);
    expect(first.status).toBe(429);

    // Even with a valid token: the address is refused as a whole.
    const id = `door-${randomBytes(6).toString('hex')}`;
    const res = await get('/core/users/me', blocked, { authorization: `Bearer ${valid}`, 'x-request-id': id });
    expect(res.status).toBe(429);
    // The same headers as the gateway's own 429, but for the request id and the times.
    const names = (r: Response) =>
      [...r.headers.keys()].filter((n) => !['date', 'content-length', 'connection', 'keep-alive'].includes(n)).sort();
    expect(names(res)).toEqual(names(first));
    for (const name of [
      'content-type',
      'api-version',
      'ratelimit-policy',
      'x-ratelimit-limit',
      'x-ratelimit-remaining',
    ]) {
      expect(res.headers.get(name)).toBe(first.headers.get(name));
    }
    expect(res.headers.get('x-request-id')).toBe(id);
    expect(res.headers.get('api-version')).toBe('2026-12-01');
    expect(Number(res.headers.get('retry-after'))).toBeGreaterThan(0);
    expect(res.headers.get('ratelimit-policy')).toBe(`"failed_auth";q=${FAILED_AUTH_LIMIT_PER_MINUTE};w=60`);
    expect(res.headers.get('x-ratelimit-remaining')).toBe('0');
    const body = (await res.json()) as { errors: { status: string; code: string; meta: { request_id: string } }[] };
    expect(body.errors[0]).toMatchObject({ status: '429', code: 'too_many_requests', meta: { request_id: id } });
    // Answered before Fastify: no request line of its own.
    expect(linesAbout(id)).toEqual([]);
  });

  it('sums up what it refused in one line per address and counts each refusal in the metric', async () => {
    const metric = async () => {
      const text = await (await fetch(`${base}/metrics`)).text();
      return Number(/gatehouse_rate_limited_total\{policy="failed_auth"\} (\d+)/.exec(text)?.[1] ?? 0);
    };
    const before = await metric();
    await new Promise((resolve) => setTimeout(resolve, REFUSAL_SUMMARY_MS + 100)); // the last summary goes out
    const start = t.logs.length;
    for (let i = 0; i < 5; i++) expect((await guess(blocked)).status).toBe(429);
    expect(await metric()).toBe(before + 5);
    await new Promise((resolve) => setTimeout(resolve, REFUSAL_SUMMARY_MS + 100));
    const summaries = t.logs
      .slice(start)
      .map((line) => JSON.parse(line) as { msg: string; remote_address?: string; refused?: number })
      .filter((line) => line.msg === 'refused requests from an address blocked for failed authentications');
    // One line per second at most: the five may fall either side of a summary.
    expect(summaries.length).toBeGreaterThanOrEqual(1);
    expect(summaries.length).toBeLessThanOrEqual(2);
    expect(summaries.every((line) => line.remote_address === blocked)).toBe(true);
    expect(summaries.reduce((sum, line) => sum + (line.refused ?? 0), 0)).toBe(5);
  });

  it('lets through other addresses, the OpenAPI document, health checks, and what Fastify must answer', async () => {
    expect((await get('/core/users/me', other, { authorization: `Bearer ${valid}` })).status).toBe(200);
    expect((await get('/core/openapi.json', blocked)).status).toBe(200);
    expect((await get('/core/openapi%2Ejson', blocked)).status).toBe(200); // the router decodes it
    expect(
      (await fetch(`${base}/core/users/me`, { method: 'OPTIONS', headers: { 'x-forwarded-for': blocked } })).status,
    ).not.toBe(429);
    expect((await get('/healthz', blocked)).status).toBe(200);
    // An unsupported version is the request's first problem: Fastify answers it, 400.
    const unsupported = await get('/core/users/me', blocked, { 'api-version': '1999-01-01' });
    expect(unsupported.status).toBe(400);
  });

  it('runs on an HTTP server set up as Fastify sets up its own', () => {
    expect(t.app.server.keepAliveTimeout).toBe(72_000);
    expect(t.app.server.requestTimeout).toBe(0);
  });
});

describe('the front door at shutdown', () => {
  // The door answers within the callback that parsed the request, so a connection it serves is
  // idle again at once, and closing the server (which ends idle connections) is not held up.
  it('does not hold the server open while a blocked client keeps its connection busy', async () => {
    const t = await startTestApp('sqlite', { trustedProxies: ['127.0.0.1'] });
    const base = await t.app.listen({ host: '127.0.0.1', port: 0 });
    const from = '198.51.100.50';
    for (let i = 0; i <= FAILED_AUTH_LIMIT_PER_MINUTE; i++) {
      await fetch(`${base}/core/users/me`, {
        headers: { 'x-forwarded-for': from, authorization: `Bearer ${randomBytes(24).toString('hex')}` },
      });
    }
    // Two requests in flight at all times on one keep-alive connection.
    const socket = net.connect(Number(new URL(base).port), '127.0.0.1');
    const request = `GET /core/users/me HTTP/1.1\r\nHost: gatehouse\r\nX-Forwarded-For: ${from}\r\n\r\n`;
    let answered = 0;
    socket.on('error', () => {});
    socket.on('data', (chunk) => {
      answered += (chunk.toString('latin1').match(/HTTP\/1\.1 429 /g) ?? []).length;
      if (socket.writable) socket.write(request);
    });
    socket.write(request + request);
    const ended = new Promise<void>((resolve) => socket.on('close', () => resolve()));
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(answered).toBeGreaterThan(10);

    const closed = await Promise.race([
      t.close().then(() => true),
      new Promise<boolean>((resolve) => setTimeout(() => resolve(false), 5000)),
    ]);
    socket.destroy();
    await ended;
    expect(closed).toBe(true);
  }, 15_000);
});

describe('the front door while no address is blocked', () => {
  it('lets every request through without working anything out about it', () => {
    const untouched = () => {
      throw new Error('nothing should be asked while no address is blocked');
    };
    const door = createFrontDoor({
      limiter: { anyBlocked: () => false, blockedRefusal: untouched },
      clientAddress: untouched,
      log: { info: untouched },
    });
    const req = new Proxy({} as IncomingMessage, { get: untouched });
    const res = new Proxy({} as ServerResponse, { get: untouched });
    try {
      expect(door.refuse(req, res)).toBe(false);
    } finally {
      door.close(); // nothing was refused, so it writes no summary
    }
  });
});
