import type { User } from '../users/service.js';

export const GLOBAL_ROLES = ['global_admin', 'global_user_admin', 'developer'] as const;
export type GlobalRole = (typeof GLOBAL_ROLES)[number];

export const isGlobalRole = (value: string): value is GlobalRole => (GLOBAL_ROLES as readonly string[]).includes(value);

/**
 * Who is making a request, as the gateway layer hands it to the core layer. Roles are the
 * user's roles as read for this request, never a snapshot from when a token was made.
 */
export interface Principal {
  readonly userId: string;
  readonly roles: readonly GlobalRole[];
  /** Set when the request came with a user app token. */
  readonly tokenId: string | null;
  /** Set when the request came with a web session cookie. */
  readonly sessionId: string | null;
  /** The user's record as read with the credential for this request, when the gateway has it. */
  readonly user?: User;
}
