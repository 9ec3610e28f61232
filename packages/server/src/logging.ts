import pino, { type DestinationStream, type Logger, type LoggerOptions } from 'pino';
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

/**
 * The names REDACT_PATHS end in (`authorization`, `cookie`, `token`, …): a line written by hand
 * (http/request-log.ts) censors fields of these names, in any case and at any depth, which covers
 * every path above and more.
 */
export const REDACTED_KEYS: ReadonlySet<string> = new Set(
  REDACT_PATHS.map((path) => /([\w-]+)"?\]?$/.exec(path)?.[1] ?? path),
);

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
  /** Bytes accepted but not yet written (text not yet handed over counted by its characters). */
  readonly backlogBytes: number;
  destroy(): void;
}

/** Characters of log text gathered before they are handed to the writer, even within one turn. */
export const LOG_BATCH_CHARS = 16 * 1024;

/**
 * Standard output, written in batches: a system call per request line cost more than the rest of
 * the line. Lines wait at most a second (or until the buffer fills), and are flushed on exit. If
 * the output stalls, the backlog is bounded: lines past LOG_BACKLOG_LIMIT_BYTES are dropped and
 * reported through `onDrop` rather than growing the heap without limit.
 *
 * The lines of one turn of the event loop are gathered as text and handed to sonic-boom as one
 * buffer at the end of the turn (or every LOG_BATCH_CHARS). A buffer per line cost about 3 µs
 * of a request's CPU under load: each is a typed array over a shared pool that stays alive until
 * its write completes, so the heap filled with short-lived views and pool slabs. Handing over
 * bytes rather than text matters too: sonic-boom measures the UTF-8 length of the whole chunk it
 * is filling every time text is added to it.
 */
export function standardOutput(
  onDrop: (lines: number) => void,
  { fd = 1, backlogLimitBytes = LOG_BACKLOG_LIMIT_BYTES }: { fd?: number; backlogLimitBytes?: number } = {},
): LogOutput {
  // Half the cap at most, so that a small cap still leaves sonic-boom a positive limit of its own.
  const batchChars = Math.max(1, Math.min(LOG_BATCH_CHARS, Math.floor(backlogLimitBytes / 2)));
  const stream = pino.destination({
    dest: fd,
    sync: false,
    contentMode: 'buffer',
    minLength: LOG_BUFFER_BYTES,
    // Up to 64 KiB per write: with the default 16 KiB, one write per turn of a busy event loop
    // fell behind 10,000 lines a second (seen in the bench soak). Not more: while the output is
    // stalled every line measures the last waiting chunk, so a 1 MiB chunk cost 140 µs a line.
    maxWrite: LOG_MAX_WRITE_BYTES,
    // The text still being gathered (under batchChars) counts towards the cap too.
    maxLength: backlogLimitBytes - batchChars,
    periodicFlush: 1000,
  }) as unknown as SonicBoomInternals;
  // A dropped write is a whole batch: count its lines.
  stream.on('drop', (batch) => onDrop(countLines(batch)));

  let gathered = '';
  let handOverScheduled = false;
  const handOver = () => {
    handOverScheduled = false;
    if (gathered === '' || stream.destroyed) return;
    const batch = Buffer.from(gathered);
    gathered = '';
    stream.write(batch);
  };
  // Before pino's own exit hook, which flushes sonic-boom synchronously.
  process.prependListener('exit', handOver);
  return {
    write(line: string) {
      if (stream.destroyed) return; // after shutdown: nothing would ever take the text
      gathered += line;
      if (gathered.length >= batchChars) {
        handOver();
      } else if (!handOverScheduled) {
        handOverScheduled = true;
        setImmediate(handOver);
      }
    },
    get backlogBytes() {
      return stream._len + gathered.length;
    },
    destroy() {
      process.removeListener('exit', handOver);
      handOver();
      stream.destroy();
    },
  };
}

function countLines(batch: Buffer): number {
  let lines = 0;
  for (let at = batch.indexOf(10); at !== -1; at = batch.indexOf(10, at + 1)) lines++;
  return lines;
}

/** The parts of sonic-boom (behind `pino.destination`) used here; `_len` is its backlog in bytes. */
interface SonicBoomInternals {
  write(data: Buffer): boolean;
  on(event: 'drop', listener: (data: Buffer) => void): void;
  readonly destroyed: boolean;
  destroy(): void;
  readonly _len: number;
}

export function createLogger(level: LogLevel, destination: DestinationStream): Logger {
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
