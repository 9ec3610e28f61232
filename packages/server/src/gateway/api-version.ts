import { AppError } from '../errors/app-error.js';

/** Date-based API versions, newest last. A request without `Api-Version` gets the newest. */
export const API_VERSIONS = ['2026-12-01'] as const;
export type ApiVersion = (typeof API_VERSIONS)[number];
export const CURRENT_API_VERSION: ApiVersion = API_VERSIONS[API_VERSIONS.length - 1] as ApiVersion;

export function resolveApiVersion(header: string | string[] | undefined): ApiVersion {
  if (header === undefined || header === '') return CURRENT_API_VERSION;
  const requested = Array.isArray(header) ? header.join(',') : header.trim();
  const known = API_VERSIONS.find((v) => v === requested);
  if (known === undefined) {
    throw new AppError(
      'unsupported_api_version',
      `Api-Version "${requested.slice(0, 40)}" is not supported. Supported versions: ${API_VERSIONS.join(', ')}.`,
      { source: { header: 'Api-Version' } },
    );
  }
  return known;
}
