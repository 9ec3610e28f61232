import { AppError } from '../errors/app-error.js';

/** Turns a storage failure into a 503, so an outage never reads as "allowed" or "invalid token". */
export function unavailable(cause: unknown): never {
  if (cause instanceof AppError) throw cause;
  throw new AppError('service_unavailable', 'Gatehouse cannot reach its database; try again shortly.', {
    headers: { 'retry-after': '5' },
    cause,
  });
}
