import type { FastifyRequest } from 'fastify';
import type { Principal } from '../access/principal.js';
import { AppError } from '../errors/app-error.js';

declare module 'fastify' {
  interface FastifyRequest {
    /** Set by the gateway's authentication hook on every authenticated route. */
    principal: Principal | null;
    /** Set by the error handler: what the request's log line reports about its failure. */
    failure: AppError | null;
    /**
     * The client's address, read once per request: behind trusted proxies every read of
     * `request.ip` parses X-Forwarded-For again.
     */
    clientAddress: string;
  }
}

export function principalOf(request: FastifyRequest): Principal {
  if (request.principal === null) {
    // Unreachable while the hook guards the scope; fail closed if a route is ever mounted outside it.
    throw new AppError('authentication_required', 'Authentication is required.');
  }
  return request.principal;
}
