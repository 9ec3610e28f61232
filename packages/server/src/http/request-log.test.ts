import type { FastifyBaseLogger, FastifyReply, FastifyRequest } from 'fastify';
import { describe, expect, it } from 'vitest';
import type { Principal } from '../access/principal.js';
import { AppError } from '../errors/app-error.js';
import { createLogger } from '../logging.js';
import { lazyRequestLogger, requestLogLine } from './request-log.js';

function capture() {
  const lines: string[] = [];
  return { lines, destination: { write: (line: string) => void lines.push(line) } };
}

const principal = (tokenId: string | null) => ({ userId: 'u-1', tokenId }) as unknown as Principal;

interface Case {
  url: string;
  status: number;
  principal: Principal | null;
  failure: AppError | null;
}

/** What the request's line was before it was written by hand: the fields, through pino. */
function throughPino(level: 'info' | 'warn', c: Case): Record<string, unknown>[] {
  const { lines, destination } = capture();
  const fields: Record<string, unknown> = {
    method: 'GET',
    url: c.url.replace(/([?&]access_token=)[^&]*/gi, '$1[redacted]'),
    remote_address: '203.0.113.9',
    status: c.status,
    ms: 1.5,
    user_id: c.principal?.userId,
    token_id: c.principal?.tokenId ?? undefined,
  };
  const child = createLogger(level, destination).child({ request_id: 'req-1' });
  if (c.failure === null) {
    child.info(fields, 'request completed');
  } else {
    fields.error_code = c.failure.code;
    Object.assign(fields, c.failure.log);
    child.info(fields, c.failure.detail);
  }
  return lines.map((line) => JSON.parse(line));
}

function byHand(level: 'info' | 'warn', c: Case): { raw: string[]; parsed: Record<string, unknown>[] } {
  const { lines, destination } = capture();
  const onResponse = requestLogLine(createLogger(level, destination), destination);
  const request = {
    id: 'req-1',
    method: 'GET',
    url: c.url,
    clientAddress: '203.0.113.9',
    principal: c.principal,
    failure: c.failure,
  } as unknown as FastifyRequest;
  let done = 0;
  onResponse(request, { statusCode: c.status, elapsedTime: 1.46 } as FastifyReply, () => done++);
  expect(done).toBe(1);
  return { raw: lines, parsed: lines.map((line) => JSON.parse(line)) };
}

const withoutTime = ({ time, ...rest }: Record<string, unknown>) => {
  expect(typeof time).toBe('number');
  return rest;
};

describe('the request log line', () => {
  const cases: [string, Case][] = [
    ['a request with a token', { url: '/core/users/me', status: 200, principal: principal('t-1'), failure: null }],
    ['a request in a web session', { url: '/core/users/me', status: 200, principal: principal(null), failure: null }],
    [
      'a URL that needs escaping and carries a token',
      {
        url: '/core/users/"me"\\?q=Søren✓\u0001&access_token=abc123',
        status: 404,
        principal: null,
        failure: new AppError('not_found', 'No route matches "this".'),
      },
    ],
    [
      'a refused token, whose own id replaces the principal’s',
      {
        url: '/core/users/me',
        status: 401,
        principal: principal('t-1'),
        failure: new AppError('invalid_token', 'The token has expired.', {
          log: { auth_failure: 'expired', token_id: null },
        }),
      },
    ],
    [
      'a failure with facts to censor',
      {
        url: '/auth/login',
        status: 429,
        principal: null,
        failure: new AppError('too_many_requests', 'Slow down.', {
          log: { policy: 'failed_login', limit: 5, password: 'hunter2', skipped: undefined },
        }),
      },
    ],
    [
      'a failure whose facts nest a credential',
      {
        url: '/core/users/me',
        status: 400,
        principal: null,
        failure: new AppError('invalid_request', 'Bad header.', {
          log: { headers: { authorization: 'Bearer hunter2', accept: 'text/plain' } },
        }),
      },
    ],
  ];

  it.each(cases)('is the line pino writes for the same fields: %s', (_name, c) => {
    const expected = throughPino('info', c);
    const { raw, parsed } = byHand('info', c);
    expect(raw).toHaveLength(1);
    expect(raw[0]?.endsWith('}\n')).toBe(true);
    expect(parsed.map(withoutTime)).toEqual(expected.map(withoutTime));
    // Same fields in the same order, so the lines read alike.
    expect(Object.keys(parsed[0] ?? {})).toEqual(Object.keys(expected[0] ?? {}));
    expect(raw[0]).not.toContain('abc123');
    expect(raw[0]).not.toContain('hunter2');
  });

  it('censors a credential nested anywhere in a failure’s facts, not just where pino looks', () => {
    const failure = new AppError('invalid_request', 'Bad.', {
      log: { upstream: { attempts: [{ Token: 'hunter2' }], session: { cookie: 'sid=hunter2' } } },
    });
    const { raw, parsed } = byHand('info', { url: '/core/users/me', status: 400, principal: null, failure });
    expect(raw[0]).not.toContain('hunter2');
    expect(parsed[0]?.upstream).toEqual({ attempts: [{ Token: '[redacted]' }], session: { cookie: '[redacted]' } });
  });

  it('is not written when the log level is above info', () => {
    const c = cases[0]?.[1] as Case;
    expect(throughPino('warn', c)).toEqual([]);
    expect(byHand('warn', c).raw).toEqual([]);
  });
});

describe('the per-request logger', () => {
  function parent() {
    const { lines, destination } = capture();
    const logger = createLogger('info', destination) as unknown as FastifyBaseLogger;
    let children = 0;
    const child = logger.child;
    // pino's children inherit this method: count only the children of the request's parent.
    logger.child = function (this: FastifyBaseLogger, bindings, options) {
      if (this === logger) children++;
      return child.call(this, bindings, options);
    };
    return { logger, lines, children: () => children };
  }

  it('makes no child logger for a request that logs nothing', () => {
    const p = parent();
    const log = lazyRequestLogger(p.logger, { request_id: 'req-1' }, {});
    expect(log.level).toBe('info');
    expect(p.children()).toBe(0);
  });

  it('logs with the request id once something logs, making the child once', () => {
    const p = parent();
    const log = lazyRequestLogger(p.logger, { request_id: 'req-1' }, {});
    log.warn({ reason: 'x' }, 'first');
    log.error(new Error('boom'));
    log.debug('below the level');
    expect(p.children()).toBe(1);
    const lines = p.lines.map((line) => JSON.parse(line));
    expect(lines).toHaveLength(2);
    expect(lines[0]).toMatchObject({ level: 40, request_id: 'req-1', reason: 'x', msg: 'first' });
    expect(lines[1]).toMatchObject({ level: 50, request_id: 'req-1', err: { message: 'boom' } });
  });

  it('honours a route’s own log level', () => {
    const p = parent();
    const log = lazyRequestLogger(p.logger, { request_id: 'req-1' }, { level: 'error' });
    expect(log.level).toBe('error');
    log.warn('dropped');
    expect(p.lines).toEqual([]);
    log.child({ step: 'inner' }).error('kept');
    expect(JSON.parse(p.lines[0] ?? '{}')).toMatchObject({ request_id: 'req-1', step: 'inner', msg: 'kept' });
  });
});
