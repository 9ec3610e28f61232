import type { IncomingMessage } from 'node:http';
import { AppError } from '../errors/app-error.js';

export type Credentials = { kind: 'none' } | { kind: 'other_scheme' } | { kind: 'bearer'; token: string };

/** Longest Authorization value worth reading; a real one is under 60 characters. */
export const MAX_AUTHORIZATION_LENGTH = 1024;

/** RFC 6750 section 2.1: the b64token syntax. */
const B64TOKEN = /^[A-Za-z0-9\-._~+/]+=*$/;

const invalidRequest = (detail: string): AppError =>
  new AppError('invalid_request', detail, {
    source: { header: 'Authorization' },
    headers: { 'www-authenticate': 'Bearer realm="gatehouse", error="invalid_request"' },
  });

/**
 * Reads the bearer credentials of a request per RFC 6750. Node keeps only the first of
 * repeated Authorization headers, so the raw header list is counted to refuse duplicates.
 */
export function readCredentials(raw: IncomingMessage, query: unknown): Credentials {
  let count = 0;
  for (let i = 0; i < raw.rawHeaders.length; i += 2) {
    if (raw.rawHeaders[i]?.toLowerCase() === 'authorization') count++;
  }
  if (count > 1) throw invalidRequest('Send exactly one Authorization header.');
  if (typeof query === 'object' && query !== null && 'access_token' in query) {
    throw invalidRequest(
      'Tokens are not accepted in the URL, where logs and proxies keep them; use the Authorization header.',
    );
  }

  const value = raw.headers.authorization;
  if (value === undefined) return { kind: 'none' };
  if (value.length > MAX_AUTHORIZATION_LENGTH) throw invalidRequest('The Authorization header is too long.');

  const trimmed = value.trim();
  const space = trimmed.search(/\s/);
  const scheme = space === -1 ? trimmed : trimmed.slice(0, space);
  if (scheme.toLowerCase() !== 'bearer') return { kind: 'other_scheme' };

  const rest = space === -1 ? '' : trimmed.slice(space).trim();
  if (rest === '') throw invalidRequest('The Bearer credentials are empty.');
  if (/\s/.test(rest)) throw invalidRequest('Send exactly one token after "Bearer".');
  if (!B64TOKEN.test(rest)) throw invalidRequest('The bearer token contains characters a token never has.');
  return { kind: 'bearer', token: rest };
}
