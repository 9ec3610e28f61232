import type { FastifyBaseLogger } from 'fastify';
import pino, { type DestinationStream, type LoggerOptions } from 'pino';
import type { LogLevel } from './config/config.js';

/**
 * Every path where a credential could sit is censored. The request serializer below never
 * copies headers at all; redaction is the second line of defence.
 */
export const REDACT_PATHS = [
  'req.headers.authorization',
  'req.headers.cookie',
  'req.headers["x-csrf-token"]',
  'res.headers["set-cookie"]',
  'headers.authorization',
  'headers.cookie',
  'token',
  'password',
];

/** The URL as logged: an `access_token` parameter (refused, but still sent by some clients) is censored. */
const ACCESS_TOKEN = /access_token=/i;
export const redactUrl = (url: string): string =>
  ACCESS_TOKEN.test(url) ? url.replace(/([?&]access_token=)[^&]*/gi, '$1[redacted]') : url;

/** Bytes of log lines held for one write: about 30 request lines per system call under load. */
export const LOG_BUFFER_BYTES = 8 * 1024;
/** Bytes handed to the operating system in one write at most (see standardOutput). */
export const LOG_MAX_WRITE_BYTES = 64 * 1024;
/** Unwritten bytes held at most when the output cannot keep up; lines beyond are dropped and counted. */
export const LOG_BACKLOG_LIMIT_BYTES = 16 * 1024 * 1024;

/** What `standardOutput` returns: a pino destination, plus what tests and shutdown need. */
export interface LogOutput extends DestinationStream {
  /** Bytes accepted but not yet written. */
  readonly backlogBytes: number;
  destroy(): void;
}

/**
 * Standard output, written in batches: a system call per request line cost more than the rest of
 * the line. Lines wait at most a second (or until the buffer fills), and are flushed on exit. If
 * the output stalls, the backlog is bounded: lines past LOG_BACKLOG_LIMIT_BYTES are dropped and
 * reported through `onDrop` rather than growing the heap without limit.
 *
 * Each line is handed over as bytes, not text: sonic-boom measures the UTF-8 length of the whole
 * chunk it is filling every time text is added to it, and while a write is in flight a busy
 * event loop adds dozens of lines to that chunk (about 5% of the server's CPU under load). As
 * bytes, each line is measured once, here, and the chunk keeps a running total.
 */
export function standardOutput(
  onDrop: (lines: number) => void,
  { fd = 1, backlogLimitBytes = LOG_BACKLOG_LIMIT_BYTES }: { fd?: number; backlogLimitBytes?: number } = {},
): LogOutput {
  const stream = pino.destination({
    dest: fd,
    sync: false,
    contentMode: 'buffer',
    minLength: LOG_BUFFER_BYTES,
    // Up to 64 KiB per write: with the default 16 KiB, one write per turn of a busy event loop
    // fell behind 10,000 lines a second (seen in the bench soak). Not more: while the output is
    // stalled every line measures the last waiting chunk, so a 1 MiB chunk cost 140 µs a line.
    maxWrite: LOG_MAX_WRITE_BYTES,
    maxLength: backlogLimitBytes,
    periodicFlush: 1000,
  }) as unknown as SonicBoomInternals;
  // One line per write, so one dropped write is one dropped line.
  stream.on('drop', () => onDrop(1));
  return {
    write: (line: string) => stream.write(Buffer.from(line)),
    get backlogBytes() {
      return stream._len;
    },
    destroy: () => stream.destroy(),
  };
}

/** The parts of sonic-boom (behind `pino.destination`) used here; `_len` is its backlog in bytes. */
interface SonicBoomInternals {
  write(data: Buffer): boolean;
  on(event: 'drop', listener: () => void): void;
  destroy(): void;
  readonly _len: number;
}

export function createLogger(level: LogLevel, destination: DestinationStream): FastifyBaseLogger {
  const options: LoggerOptions = {
    level,
    redact: { paths: REDACT_PATHS, censor: '[redacted]' },
    serializers: {
      req: (req: { method: string; url: string; ip?: string }) => ({
        method: req.method,
        url: redactUrl(req.url),
        remote_address: req.ip,
      }),
      res: (res: { statusCode: number }) => ({ status: res.statusCode }),
      err: pino.stdSerializers.err,
    },
  };
  return pino(options, destination);
}
