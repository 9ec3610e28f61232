import { generatePassword } from './auth/password.js';
import type { Config } from './config/config.js';
import type { Services } from './services.js';

export const DEFAULT_ADMIN_EMAIL = 'admin@gatehouse.local';
const ADMIN_ROLES = ['global_admin', 'developer'];

export type BootstrapResult =
  | { kind: 'none' }
  | { kind: 'configured_admin'; email: string }
  | { kind: 'default_admin'; email: string; password: string };

/**
 * First start: make sure someone can sign in. With GATEHOUSE_ADMIN_EMAIL/PASSWORD that user is
 * created if missing; on an empty instance without them, a default admin with a generated
 * password is created and the password returned so the caller can print it, once.
 */
export async function ensureAdmin(
  services: Services,
  config: Pick<Config, 'adminEmail' | 'adminPassword'>,
  isEmpty: () => Promise<boolean>,
): Promise<BootstrapResult> {
  if (config.adminEmail !== null && config.adminPassword !== null) {
    if ((await services.users.findByEmail(config.adminEmail)) !== undefined) return { kind: 'none' };
    await services.users.createUser({
      email: config.adminEmail,
      first_name: 'Admin',
      roles: ADMIN_ROLES,
      password: config.adminPassword,
    });
    return { kind: 'configured_admin', email: config.adminEmail };
  }
  if (!(await isEmpty())) return { kind: 'none' };
  const password = generatePassword();
  await services.users.createUser({ email: DEFAULT_ADMIN_EMAIL, first_name: 'Admin', roles: ADMIN_ROLES, password });
  return { kind: 'default_admin', email: DEFAULT_ADMIN_EMAIL, password };
}
