import type { Kysely } from 'kysely';
import { createAuthService } from './auth/service.js';
import type { Clock } from './clock.js';
import type { Database } from './db/schema.js';
import { createSettingsService } from './settings/service.js';
import { createTokenService } from './tokens/service.js';
import { createUserService } from './users/service.js';

export interface ServiceDeps {
  db: Kysely<Database>;
  clock: Clock;
  sessionTtlSeconds: number;
}

/** The core layer: every service, wired once, shared by the HTTP app and the operator CLI. */
export function createServices({ db, clock, sessionTtlSeconds }: ServiceDeps) {
  const settings = createSettingsService({ db, clock });
  const users = createUserService({ db, clock });
  const tokens = createTokenService({ db, clock, settings });
  const auth = createAuthService({ db, clock, sessionTtlSeconds });
  return { settings, users, tokens, auth };
}

export type Services = ReturnType<typeof createServices>;
