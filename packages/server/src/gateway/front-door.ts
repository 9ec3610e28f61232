import type { IncomingMessage, ServerResponse } from 'node:http';
import { renderError } from '../errors/handler.js';
import { JSONAPI_MEDIA_TYPE } from '../http/jsonapi.js';
import { requestIdOf } from '../http/request-id.js';
import { addressKey } from '../ratelimit/address.js';
import type { RateLimiter, Refusal } from '../ratelimit/limiter.js';
import { resolveApiVersion } from './api-version.js';

/** How often the refusals of each blocked address are summed up in one log line. */
export const REFUSAL_SUMMARY_MS = 1000;

export interface FrontDoorDeps {
  limiter: Pick<RateLimiter, 'blockedRefusal' | 'anyBlocked'>;
  /** The request's client address (http/client-address.ts). */
  clientAddress: (req: IncomingMessage) => string;
  log: { info(fields: object, message: string): void };
}

export type FrontDoor = ReturnType<typeof createFrontDoor>;

/**
 * Requests the door may refuse: under /core, except the OpenAPI document (however its path is
 * spelt: the router decodes it and stops at `?` or `#`) and CORS preflights (OPTIONS). Paths
 * under /core that match no route are refused too: from a blocked address, 429 rather than 404.
 */
function refusable(method: string | undefined, url: string): boolean {
  if (!url.startsWith('/core/') || method === 'OPTIONS') return false;
  const query = url.indexOf('?');
  const fragment = url.indexOf('#');
  const end = query === -1 ? fragment : fragment === -1 ? query : Math.min(query, fragment);
  let path = end === -1 ? url : url.slice(0, end);
  if (path.includes('%')) {
    try {
      path = decodeURIComponent(path);
    } catch {
      return false; // the router answers what it cannot decode
    }
  }
  return path !== '/core/openapi.json';
}

/** The body's media type exactly as Fastify writes it for the gateway's answers. */
const CONTENT_TYPE = `${JSONAPI_MEDIA_TYPE}; charset=utf-8`;

/** A refusal as written: the body around its request id, and the headers (two filled in per request). */
interface Rendered {
  /** The Api-Version it answers (one of few). */
  version: string;
  bodyHead: string;
  bodyTail: string;
  /** Bytes of the body without its request id. */
  bodyBytes: number;
  /** Names and values; CONTENT_LENGTH and REQUEST_ID are the slots of the values set per request. */
  headers: string[];
}
const CONTENT_LENGTH = 3;
const REQUEST_ID = 5;

/**
 * Renders a refusal once for every request it answers (the limiter shares one per second left).
 * Request ids are ASCII letters, digits and `._:-` (http/request-id.ts), so one goes into the
 * body as it is and adds its length in bytes.
 */
function render(refusal: Refusal, version: string): Rendered {
  const marker = 'request-id';
  const body = JSON.stringify(renderError(refusal.error, marker));
  const at = body.indexOf(`"${marker}"`) + 1;
  const bodyHead = body.slice(0, at);
  const bodyTail = body.slice(at + marker.length);
  // A flat list of names and values: no object spread (which V8 does in its runtime, slowly).
  const headers = ['content-type', CONTENT_TYPE, 'content-length', '', 'x-request-id', '', 'api-version', version];
  for (const name in refusal.headers) headers.push(name, refusal.headers[name] as string);
  for (const name in refusal.error.headers) headers.push(name, refusal.error.headers[name] as string);
  return { version, bodyHead, bodyTail, bodyBytes: Buffer.byteLength(bodyHead) + Buffer.byteLength(bodyTail), headers };
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
  /** By address key (an IPv6 client's /64): how many were refused, and the last client address. */
  const refusedByAddress = new Map<string, { refused: number; remoteAddress: string }>();
  const renderedRefusals = new WeakMap<Refusal, Rendered>();
  const summaries = setInterval(summarize, REFUSAL_SUMMARY_MS);
  summaries.unref();

  function summarize(): void {
    for (const [address, { refused, remoteAddress }] of refusedByAddress) {
      log.info(
        {
          remote_address: remoteAddress,
          address_key: address,
          refused,
          status: 429,
          error_code: 'too_many_requests',
          policy: 'failed_auth',
        },
        'refused requests from an address blocked for failed authentications',
      );
    }
    refusedByAddress.clear();
  }

  return {
    /** Answers `req` if its address is known to be blocked; false when it goes on to Fastify. */
    refuse(req: IncomingMessage, res: ServerResponse): boolean {
      // Nearly always nobody is blocked: then nothing about the request needs working out.
      if (!limiter.anyBlocked()) return false;
      if (!refusable(req.method, req.url ?? '')) return false;
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
      let rendered = renderedRefusals.get(refusal);
      if (rendered === undefined || rendered.version !== version) {
        rendered = render(refusal, version);
        renderedRefusals.set(refusal, rendered);
      }
      const id = requestIdOf(req);
      const headers = rendered.headers.slice();
      headers[CONTENT_LENGTH] = String(rendered.bodyBytes + id.length);
      headers[REQUEST_ID] = id;
      res.writeHead(refusal.error.status, headers);
      res.end(rendered.bodyHead + id + rendered.bodyTail);
      const seen = refusedByAddress.get(address);
      if (seen === undefined) refusedByAddress.set(address, { refused: 1, remoteAddress: ip });
      else {
        seen.refused++;
        seen.remoteAddress = ip;
      }
      return true;
    },

    /** Stops the summaries, writing the last one. */
    close(): void {
      clearInterval(summaries);
      summarize();
    },
  };
}
