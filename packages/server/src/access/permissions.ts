import type { GlobalRole, Principal } from './principal.js';

/**
 * What each global role may do. Workspace roles (manager, runbook creator, viewer) will be
 * checked against a workspace membership, beside this table, when the runbook core lands.
 */
export type Permission =
  | 'users:read_any'
  | 'users:manage'
  | 'users:grant_global_admin'
  | 'users:set_rate_limit'
  | 'tokens:manage_any'
  | 'tokens:create_own'
  | 'instance_settings:manage';

const GRANTS: Record<GlobalRole, readonly Permission[]> = {
  global_admin: [
    'users:read_any',
    'users:manage',
    'users:grant_global_admin',
    'users:set_rate_limit',
    'tokens:manage_any',
    'instance_settings:manage',
  ],
  global_user_admin: ['users:read_any', 'users:manage', 'tokens:manage_any'],
  developer: ['tokens:create_own'],
};

export function can(principal: Principal, permission: Permission): boolean {
  return principal.roles.some((role) => GRANTS[role].includes(permission));
}
