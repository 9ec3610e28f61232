/**
 * Every error the API can answer with, and its HTTP status. The codes are part of the
 * public contract: the client, the CLI and the web app switch on them.
 */
export const ERROR_STATUS = {
  invalid_request: 400,
  invalid_json: 400,
  unsupported_api_version: 400,
  authentication_required: 401,
  invalid_token: 401,
  invalid_credentials: 401,
  insufficient_scope: 403,
  csrf_token_invalid: 403,
  not_found: 404,
  conflict: 409,
  type_mismatch: 409,
  token_limit_reached: 409,
  payload_too_large: 413,
  unsupported_media_type: 415,
  header_too_large: 431,
  too_many_requests: 429,
  internal_error: 500,
  service_unavailable: 503,
} as const;

export type ErrorCode = keyof typeof ERROR_STATUS;

export const ERROR_TITLES: Record<ErrorCode, string> = {
  invalid_request: 'Invalid request',
  invalid_json: 'Malformed JSON',
  unsupported_api_version: 'Unsupported API version',
  authentication_required: 'Authentication required',
  invalid_token: 'Invalid token',
  invalid_credentials: 'Invalid credentials',
  insufficient_scope: 'Forbidden',
  csrf_token_invalid: 'CSRF token missing or invalid',
  not_found: 'Not found',
  conflict: 'Conflict',
  type_mismatch: 'Resource type mismatch',
  token_limit_reached: 'Token limit reached',
  payload_too_large: 'Payload too large',
  unsupported_media_type: 'Unsupported media type',
  header_too_large: 'Request header too large',
  too_many_requests: 'Too many requests',
  internal_error: 'Internal server error',
  service_unavailable: 'Service unavailable',
};
