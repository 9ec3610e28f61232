import type { FastifyBaseLogger, FastifyReply, FastifyRequest } from 'fastify';
import pino, { type Bindings, type ChildLoggerOptions, type DestinationStream, type Logger } from 'pino';
import { REDACTED_KEYS, redactUrl } from '../logging.js';

/**
 * The one log line per request (see docs/operations.md, "Logging"), written when the response
 * has been sent, failures included.
 *
 * It is the line pino would write for the same fields, but put together here and handed straight
 * to the log output: pino's general serializer, and the per-request child logger it needs for
 * the request id, cost about a tenth of a whole request's CPU under load (`npm run bench`).
 * Everything else still logs through pino; a test holds the two to the same output. The line
 * follows the root logger's level (LOG_LEVEL); no route sets a level of its own.
 */
export function requestLogLine(logger: Logger, destination: DestinationStream) {
  const info = logger.levels.values.info ?? 30;
  // The root logger's bindings (pid and hostname), as pino writes them: `,"pid":…,"hostname":"…"`.
  const bindings = (logger as unknown as Record<symbol, string>)[pino.symbols.chindingsSym] ?? '';
  const messageKey = JSON.stringify((logger as unknown as Record<symbol, string>)[pino.symbols.messageKeySym] ?? 'msg');

  return function onResponse(request: FastifyRequest, reply: FastifyReply, done: () => void): void {
    if (logger.isLevelEnabled('info')) destination.write(lineOf(request, reply));
    done();
  };

  function lineOf(request: FastifyRequest, reply: FastifyReply): string {
    const ms = Math.round(reply.elapsedTime * 10) / 10;
    let line =
      `{"level":${info},"time":${Date.now()}${bindings},"request_id":${JSON.stringify(request.id)}` +
      `,"method":${JSON.stringify(request.method)},"url":${JSON.stringify(redactUrl(request.url))}` +
      `,"remote_address":${JSON.stringify(request.clientAddress)},"status":${reply.statusCode}` +
      `,"ms":${Number.isFinite(ms) ? ms : null}`;
    const principal = request.principal;
    const failure = request.failure;
    // What a failure reports (e.g. the id of a refused token) takes the place of the principal's.
    const facts = failure === null ? undefined : failure.log;
    const userId = facts?.user_id !== undefined ? facts.user_id : principal?.userId;
    const tokenId = facts?.token_id !== undefined ? facts.token_id : (principal?.tokenId ?? undefined);
    if (userId !== undefined) line += `,"user_id":${json(userId)}`;
    if (tokenId !== undefined) line += `,"token_id":${json(tokenId)}`;
    if (failure === null) return `${line},${messageKey}:"request completed"}\n`;
    line += `,"error_code":${json(failure.code)}`;
    for (const key in facts) {
      const value = REDACTED_KEYS.has(key.toLowerCase()) ? '[redacted]' : facts[key];
      if (value !== undefined && key !== 'user_id' && key !== 'token_id') line += `,${json(key)}:${json(value)}`;
    }
    return `${line},${messageKey}:${JSON.stringify(failure.detail)}}\n`;
  }
}

/** Censors, at any depth of a nested value, the names a credential goes by (logging.ts). */
const censor = (key: string, value: unknown): unknown => (REDACTED_KEYS.has(key.toLowerCase()) ? '[redacted]' : value);

/** A value as JSON; what JSON cannot hold is written as null, and nothing here ever throws. */
function json(value: unknown): string {
  try {
    return (
      (typeof value === 'object' && value !== null ? JSON.stringify(value, censor) : JSON.stringify(value)) ?? 'null'
    );
  } catch {
    return '"[unserializable]"';
  }
}

/**
 * Fastify gives every request a child logger that carries its request id. Making one (pino
 * serialises the bindings for every child) costs more than most of what a request does, and
 * most requests never log through it: their one line is written by `requestLogLine`. So each
 * request gets this stand-in, which makes the real child the first time something logs.
 */
export function lazyRequestLogger(
  parent: FastifyBaseLogger,
  bindings: Bindings,
  options: ChildLoggerOptions,
): FastifyBaseLogger {
  return new RequestLogger(parent, bindings, options);
}

class RequestLogger implements FastifyBaseLogger {
  #logger: FastifyBaseLogger | undefined;
  readonly #parent: FastifyBaseLogger;
  readonly #bindings: Bindings;
  readonly #options: ChildLoggerOptions;

  constructor(parent: FastifyBaseLogger, bindings: Bindings, options: ChildLoggerOptions) {
    this.#parent = parent;
    this.#bindings = bindings;
    this.#options = options;
  }

  get #child(): FastifyBaseLogger {
    this.#logger ??= this.#parent.child(this.#bindings, this.#options);
    return this.#logger;
  }

  get level(): string {
    return this.#logger?.level ?? this.#options.level ?? this.#parent.level;
  }

  set level(level: string) {
    this.#child.level = level;
  }

  fatal(...args: unknown[]): void {
    (this.#child.fatal as (...a: unknown[]) => void)(...args);
  }
  error(...args: unknown[]): void {
    (this.#child.error as (...a: unknown[]) => void)(...args);
  }
  warn(...args: unknown[]): void {
    (this.#child.warn as (...a: unknown[]) => void)(...args);
  }
  info(...args: unknown[]): void {
    (this.#child.info as (...a: unknown[]) => void)(...args);
  }
  debug(...args: unknown[]): void {
    (this.#child.debug as (...a: unknown[]) => void)(...args);
  }
  trace(...args: unknown[]): void {
    (this.#child.trace as (...a: unknown[]) => void)(...args);
  }
  silent(): void {}

  child(bindings: Bindings, options?: ChildLoggerOptions): FastifyBaseLogger {
    return this.#child.child(bindings, options);
  }
}
