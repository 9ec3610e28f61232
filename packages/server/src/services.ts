import type { Kysely } from 'kysely';
import { createAuthService } from './auth/service.js';
import type { Clock } from './clock.js';
import type { WatchChanges } from './db/changes.js';
import type { Database } from './db/schema.js';
import { createSettingsService } from './settings/service.js';
import { CredentialCache } from './tokens/credential-cache.js';
import { type Credential, createTokenService } from './tokens/service.js';
import { createUserService } from './users/service.js';

export interface ServiceDeps {
  db: Kysely<Database>;
  clock: Clock;
  sessionTtlSeconds: number;
  /** Caches credentials per process once started (the server does; the CLI does not). */
  credentialCache?: { size: number; watch: WatchChanges };
}

/** The core layer: every service, wired once, shared by the HTTP app and the operator CLI. */
export function createServices({ db, clock, sessionTtlSeconds, credentialCache }: ServiceDeps) {
  const credentials = new CredentialCache<Credential>(credentialCache ?? { size: 0, watch: noFeed });
  const settings = createSettingsService({ db, clock, credentials });
  const users = createUserService({ db, clock, credentials });
  const tokens = createTokenService({ db, clock, settings, cache: credentials });
  const auth = createAuthService({ db, clock, sessionTtlSeconds });
  return { settings, users, tokens, auth, credentials };
}

const noFeed: WatchChanges = () => ({ isCurrent: () => false, close: async () => {} });

export type Services = ReturnType<typeof createServices>;
