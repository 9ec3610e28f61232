import { ERROR_STATUS, type ErrorCode } from './codes.js';

export interface ErrorSource {
  pointer?: string;
  parameter?: string;
  header?: string;
}

export interface AppErrorOptions {
  source?: ErrorSource;
  /** Extra response headers, e.g. `WWW-Authenticate` or `Retry-After`. */
  headers?: Record<string, string>;
  /** Facts for the log line only; never rendered to the client. */
  log?: Record<string, unknown>;
  cause?: unknown;
}

/** The one error type services and hooks throw; the error handler renders it as JSON:API. */
export class AppError extends Error {
  readonly status: number;
  readonly source: ErrorSource | undefined;
  readonly headers: Record<string, string>;
  readonly log: Record<string, unknown>;

  constructor(
    readonly code: ErrorCode,
    readonly detail: string,
    options: AppErrorOptions = {},
  ) {
    // No stack trace: an AppError is an answer, not a bug, and capturing one costs more than
    // the rest of a rejection. A cause keeps its own stack.
    const { stackTraceLimit } = Error;
    Error.stackTraceLimit = 0;
    super(detail, options.cause === undefined ? undefined : { cause: options.cause });
    Error.stackTraceLimit = stackTraceLimit;
    this.name = 'AppError';
    this.status = ERROR_STATUS[code];
    this.source = options.source;
    this.headers = options.headers ?? {};
    this.log = options.log ?? {};
  }
}

export const notFound = (what = 'resource'): AppError =>
  new AppError('not_found', `The ${what} does not exist or you may not see it.`);
