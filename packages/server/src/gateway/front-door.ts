import type { IncomingMessage, ServerResponse } from 'node:http';
import { renderError } from '../errors/handler.js';
import { JSONAPI_MEDIA_TYPE } from '../http/jsonapi.js';
import { requestIdOf } from '../http/request-id.js';
import { addressKey } from '../ratelimit/address.js';
import type { RateLimiter } from '../ratelimit/limiter.js';
import { resolveApiVersion } from './api-version.js';

/** How often the refusals of each blocked address are summed up in one log line. */
export const REFUSAL_SUMMARY_MS = 1000;

export interface FrontDoorDeps {
  limiter: Pick<RateLimiter, 'blockedRefusal'>;
  /** The request's client address (http/client-address.ts). */
  clientAddress: (req: IncomingMessage) => string;
  log: { info(fields: object, message: string): void };
}

export type FrontDoor = ReturnType<typeof createFrontDoor>;

/** Everything under /core needs credentials except the OpenAPI document. */
function needsCredentials(url: string): boolean {
  if (!url.startsWith('/core/')) return false;
  const query = url.indexOf('?');
  return (query === -1 ? url : url.slice(0, query)) !== '/core/openapi.json';
}

/**
 * Refuses requests to the authenticated API from addresses this node has seen blocked for
 * failed authentications, before Fastify sees them: a guessing flood, once blocked, costs less
 * than a bare hello instead of a whole trip through routing, hooks and the request log. The
 * answer is the same 429 the gateway gives (JSON:API error, Retry-After, rate-limit headers,
 * request id). Instead of a log line per refused request, each address gets one line per
 * REFUSAL_SUMMARY_MS with the number refused; `gatehouse_rate_limited_total` counts each one.
 *
 * Anything it does not refuse (including an unsupported Api-Version, which Fastify answers
 * 400) goes on to Fastify, where the gateway's own check still applies.
 */
export function createFrontDoor({ limiter, clientAddress, log }: FrontDoorDeps) {
  const refusedByAddress = new Map<string, number>();
  const summaries = setInterval(summarize, REFUSAL_SUMMARY_MS);
  summaries.unref();

  function summarize(): void {
    for (const [address, refused] of refusedByAddress) {
      log.info(
        { remote_address: address, refused, status: 429, error_code: 'too_many_requests', policy: 'failed_auth' },
        'refused requests from an address blocked for failed authentications',
      );
    }
    refusedByAddress.clear();
  }

  return {
    /** Answers `req` if its address is known to be blocked; false when it goes on to Fastify. */
    refuse(req: IncomingMessage, res: ServerResponse): boolean {
      if (!needsCredentials(req.url ?? '')) return false;
      let version: string;
      try {
        version = resolveApiVersion(req.headers['api-version']);
      } catch {
        return false;
      }
      const ip = clientAddress(req);
      if (ip === '') return false;
      const address = addressKey(ip);
      const refusal = limiter.blockedRefusal(address);
      if (refusal === null) return false;
      const id = requestIdOf(req);
      const body = JSON.stringify(renderError(refusal.error, id));
      // A flat list of names and values: no object spread (which V8 does in its runtime, slowly).
      const headers: string[] = [
        'content-type',
        JSONAPI_MEDIA_TYPE,
        'content-length',
        String(Buffer.byteLength(body)),
        'x-request-id',
        id,
        'api-version',
        version,
      ];
      for (const name in refusal.headers) headers.push(name, refusal.headers[name] as string);
      for (const name in refusal.error.headers) headers.push(name, refusal.error.headers[name] as string);
      res.writeHead(refusal.error.status, headers);
      res.end(body);
      refusedByAddress.set(address, (refusedByAddress.get(address) ?? 0) + 1);
      return true;
    },

    /** Stops the summaries, writing the last one. */
    close(): void {
      clearInterval(summaries);
      summarize();
    },
  };
}
