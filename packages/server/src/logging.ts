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

export const redactUrl = (url: string): string => url.replace(/([?&]access_token=)[^&]*/gi, '$1[redacted]');

export function createLogger(level: LogLevel, destination?: DestinationStream): FastifyBaseLogger {
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
  // Synchronous writes: pino's asynchronous default keeps one write in flight, so under
  // saturation unwritten lines pile up in memory without bound (seen in the bench soak).
  return pino(options, destination ?? pino.destination({ dest: 1, sync: true }));
}
