import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { JSONAPI_MEDIA_TYPE } from '../http/jsonapi.js';
import { AppError } from './app-error.js';
import { ERROR_TITLES } from './codes.js';

/**
 * The RFC 6750 challenge for each error that has one: the only place challenges are written.
 * Errors about the Authorization header itself carry their `invalid_request` challenge in
 * their own headers, since `invalid_request` also covers bodies and parameters.
 */
const REALM = 'Bearer realm="gatehouse"';
function challengeFor(error: AppError): string | undefined {
  switch (error.code) {
    case 'authentication_required':
      return REALM;
    case 'invalid_token':
      return `${REALM}, error="invalid_token", error_description="${error.detail.replaceAll('"', "'")}"`;
    case 'insufficient_scope':
    case 'csrf_token_invalid':
      return `${REALM}, error="insufficient_scope"`;
    default:
      return undefined;
  }
}

/** Storage errors that mean "not reachable right now" rather than "bug". */
function isUnavailable(err: { code?: unknown; message?: unknown }): boolean {
  const code = typeof err.code === 'string' ? err.code : '';
  const message = typeof err.message === 'string' ? err.message : '';
  return (
    [
      'ECONNREFUSED',
      'ECONNRESET',
      'ETIMEDOUT',
      'ENOTFOUND',
      'SQLITE_BUSY',
      'SQLITE_CANTOPEN',
      '57P01',
      '57P03',
    ].includes(code) ||
    code.startsWith('08') || // PostgreSQL: connection exceptions
    code.startsWith('53') || // PostgreSQL: insufficient resources, e.g. too many connections
    code.startsWith('57P') || // PostgreSQL: shutting down, cannot connect now
    ['28P01', '3D000', 'SQLITE_FULL', 'SQLITE_LOCKED', 'SQLITE_READONLY'].includes(code) ||
    code.startsWith('SQLITE_IOERR') ||
    /driver has already been destroyed|connection terminated|timeout exceeded when trying to connect|database connection is not open/i.test(
      message,
    )
  );
}

/** Maps anything thrown while handling a request to the one error type. */
export function toAppError(err: unknown): AppError {
  if (err instanceof AppError) return err;
  const e = (typeof err === 'object' && err !== null ? err : {}) as Partial<FastifyError> & { cause?: unknown };
  if (e.validation !== undefined && e.validation.length > 0) {
    const first = e.validation[0];
    const where = e.validationContext ?? 'body';
    const path = first?.instancePath ?? '';
    const missing = (first?.params as { missingProperty?: string } | undefined)?.missingProperty;
    const pointer = missing === undefined ? path : `${path}/${missing}`;
    const source =
      where === 'body'
        ? { pointer: pointer || '/' }
        : where === 'querystring' || where === 'params'
          ? { parameter: pointer.replace(/^\//, '') }
          : {};
    const detail = `${where === 'body' ? 'Request body' : where}${pointer ? ` ${pointer}` : ''} ${first?.message ?? 'is invalid'}.`;
    return new AppError('invalid_request', detail, { source });
  }
  switch (e.code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return new AppError('payload_too_large', 'The request body is larger than the 1 MiB this API accepts.');
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return new AppError('unsupported_media_type', 'Send JSON as application/vnd.api+json or application/json.');
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
      return new AppError('invalid_json', 'The request body is empty; send a JSON document.');
    case 'FST_ERR_CTP_INVALID_JSON_BODY':
      return new AppError('invalid_json', 'The request body is not valid JSON.');
  }
  if (err instanceof SyntaxError && e.statusCode === 400) {
    return new AppError('invalid_json', 'The request body is not valid JSON.');
  }
  if (typeof e.statusCode === 'number' && e.statusCode >= 400 && e.statusCode < 500) {
    const detail = /prototype/i.test(e.message ?? '')
      ? 'The request body contains a forbidden key such as "__proto__" or "constructor".'
      : 'The request could not be read.';
    return new AppError('invalid_request', detail, { cause: err });
  }
  if (isUnavailable(e) || (e.cause !== undefined && isUnavailable(e.cause as object))) {
    return new AppError('service_unavailable', 'Gatehouse cannot reach its database; try again shortly.', {
      headers: { 'retry-after': '5' },
      cause: err,
    });
  }
  return new AppError('internal_error', 'Something went wrong on our side; the request id identifies it in our logs.', {
    cause: err,
  });
}

export function renderError(error: AppError, requestId: string) {
  // Built field by field rather than with a spread: this runs for every refused request.
  const rendered: JsonApiError = {
    status: String(error.status),
    code: error.code,
    title: ERROR_TITLES[error.code],
    detail: error.detail,
  };
  if (error.source !== undefined) rendered.source = error.source;
  rendered.meta = { request_id: requestId };
  return { errors: [rendered] };
}

interface JsonApiError {
  status: string;
  code: AppError['code'];
  title: string;
  detail: string;
  source?: AppError['source'];
  meta?: { request_id: string };
}

export function errorHandler(err: unknown, request: FastifyRequest, reply: FastifyReply): FastifyReply {
  const error = toAppError(err);
  if (error.status >= 500) request.log.error({ err: error.cause ?? err, code: error.code }, 'request failed');
  return sendError(error, request, reply);
}

/**
 * Answers with `error` as a JSON:API error document. The error handler's way out, and a hook's
 * way to answer at once without going through Fastify's error path (which costs about as much
 * again as the rest of a refused request).
 */
export function sendError(error: AppError, request: FastifyRequest, reply: FastifyReply): FastifyReply {
  // The request's one log line (app.ts, onResponse) says why it failed.
  request.failure = error;
  const challenge = challengeFor(error);
  if (challenge !== undefined) reply.header('www-authenticate', challenge);
  for (const [name, value] of Object.entries(error.headers)) reply.header(name, value);
  return reply.code(error.status).type(JSONAPI_MEDIA_TYPE).send(renderError(error, request.id));
}
