import type { Kysely } from 'kysely';
import { can } from '../access/permissions.js';
import type { Principal } from '../access/principal.js';
import { addSeconds, type Clock } from '../clock.js';
import type { Database } from '../db/schema.js';
import { AppError } from '../errors/app-error.js';
import type { CredentialChanges } from '../tokens/credential-cache.js';
import { countTokensCreatedBetween } from '../tokens/repository.js';
import { readSettings, writeSetting } from './repository.js';

export interface InstanceSettings {
  /** Lifetime of every token from its creation, in seconds; null means tokens do not expire. */
  token_expiry_seconds: number | null;
  /** Requests a minute per user, shared by all of the user's tokens, unless the user has its own. */
  rate_limit_per_minute: number;
}

export const DEFAULT_SETTINGS: Readonly<InstanceSettings> = Object.freeze({
  token_expiry_seconds: null,
  rate_limit_per_minute: 60,
});

export const MIN_RATE_LIMIT_PER_MINUTE = 1;
export const MAX_RATE_LIMIT_PER_MINUTE = 100_000;

export const MIN_TOKEN_EXPIRY_SECONDS = 60;
export const MAX_TOKEN_EXPIRY_SECONDS = 10 * 366 * 24 * 3600;
export const IMPACT_WINDOW_DAYS = 7;

export interface ExpiryImpact {
  /** Live tokens that would stop working the moment the change is saved. */
  tokens_expiring_now: number;
  users_affected_now: number;
  /** Further live tokens that would expire within the next seven days. */
  tokens_expiring_within_7_days: number;
  users_affected_within_7_days: number;
}

type SettingKey = keyof InstanceSettings;

/** Parses a setting from text (the CLI) with the same rules the API's schema enforces. */
export function parseSettingValue(key: string, raw: string): InstanceSettings[SettingKey] {
  if (key === 'rate_limit_per_minute') return parseRateLimit(key, raw, false) as number;
  if (key !== 'token_expiry_seconds') {
    throw new AppError(
      'invalid_request',
      `Unknown setting "${key}". Known settings: ${Object.keys(DEFAULT_SETTINGS).join(', ')}.`,
    );
  }
  if (['null', 'off', 'none'].includes(raw.toLowerCase())) return null;
  const n = Number(raw);
  if (!/^\d+$/.test(raw) || n < MIN_TOKEN_EXPIRY_SECONDS || n > MAX_TOKEN_EXPIRY_SECONDS) {
    throw new AppError(
      'invalid_request',
      `token_expiry_seconds must be "null" (off) or a whole number of seconds from ${MIN_TOKEN_EXPIRY_SECONDS} to ${MAX_TOKEN_EXPIRY_SECONDS}.`,
    );
  }
  return n;
}

/** Parses a requests-per-minute limit from text; with `nullable`, "default" means no override. */
export function parseRateLimit(name: string, raw: string, nullable: boolean): number | null {
  if (nullable && ['null', 'default', 'none'].includes(raw.toLowerCase())) return null;
  const n = Number(raw);
  if (!/^\d+$/.test(raw) || n < MIN_RATE_LIMIT_PER_MINUTE || n > MAX_RATE_LIMIT_PER_MINUTE) {
    throw new AppError(
      'invalid_request',
      `${name} must be ${nullable ? '"default" or ' : ''}a whole number of requests per minute from ${MIN_RATE_LIMIT_PER_MINUTE} to ${MAX_RATE_LIMIT_PER_MINUTE}.`,
    );
  }
  return n;
}

export interface SettingsServiceDeps {
  db: Kysely<Database>;
  clock: Clock;
  credentials: CredentialChanges;
}

export type SettingsService = ReturnType<typeof createSettingsService>;

/** The settings from their stored JSON values (undefined or null when never set), defaults filled in. */
export function settingsFromStored(stored: {
  token_expiry_seconds?: unknown;
  rate_limit_per_minute?: unknown;
}): InstanceSettings {
  const expiry = typeof stored.token_expiry_seconds === 'string' ? JSON.parse(stored.token_expiry_seconds) : null;
  const rateLimit = typeof stored.rate_limit_per_minute === 'string' ? JSON.parse(stored.rate_limit_per_minute) : null;
  return {
    token_expiry_seconds: typeof expiry === 'number' ? expiry : DEFAULT_SETTINGS.token_expiry_seconds,
    rate_limit_per_minute: typeof rateLimit === 'number' ? rateLimit : DEFAULT_SETTINGS.rate_limit_per_minute,
  };
}

export function createSettingsService({ db, clock, credentials }: SettingsServiceDeps) {
  async function get(): Promise<InstanceSettings> {
    return settingsFromStored(await readSettings(db));
  }

  /**
   * What changing the expiry would do to tokens that work now. A token expires at
   * created_at + expiry, so a token dies now if it was created at or before `now - next`.
   */
  async function expiryImpact(next: number | null): Promise<ExpiryImpact> {
    const none = { tokens: 0, users: 0 };
    if (next === null) {
      return {
        tokens_expiring_now: 0,
        users_affected_now: 0,
        tokens_expiring_within_7_days: 0,
        users_affected_within_7_days: 0,
      };
    }
    const now = clock.now();
    const { token_expiry_seconds: current } = await get();
    // Tokens created at or before this instant are already expired under the current setting.
    const deadBefore = current === null ? null : addSeconds(now, -current).toISOString();
    const cutNow = addSeconds(now, -next).toISOString();
    const cutSoon = addSeconds(now, -next + IMPACT_WINDOW_DAYS * 24 * 3600).toISOString();
    const later = (a: string | null, b: string): string => (a !== null && a > b ? a : b);

    const expiringNow =
      deadBefore !== null && deadBefore >= cutNow ? none : await countTokensCreatedBetween(db, deadBefore, cutNow);
    const soonFloor = later(deadBefore, cutNow);
    const expiringSoon = soonFloor >= cutSoon ? none : await countTokensCreatedBetween(db, soonFloor, cutSoon);
    return {
      tokens_expiring_now: expiringNow.tokens,
      users_affected_now: expiringNow.users,
      tokens_expiring_within_7_days: expiringSoon.tokens,
      users_affected_within_7_days: expiringSoon.users,
    };
  }

  async function update(changes: Partial<InstanceSettings>): Promise<InstanceSettings> {
    const now = clock.now().toISOString();
    // Expiry and the default limit are part of every cached credential.
    await credentials.changing(async () => {
      for (const [key, value] of Object.entries(changes)) await writeSetting(db, key, value, now);
    });
    return get();
  }

  function requireAdmin(principal: Principal): void {
    if (!can(principal, 'instance_settings:manage')) {
      throw new AppError('insufficient_scope', 'Instance settings need the global_admin role.');
    }
  }

  return {
    get,
    update,
    expiryImpact,

    async getFor(principal: Principal): Promise<InstanceSettings> {
      requireAdmin(principal);
      return get();
    },

    /** Saves the changes (unless `dryRun`) and reports the impact they have or would have. */
    async updateFor(
      principal: Principal,
      changes: Partial<InstanceSettings>,
      dryRun: boolean,
    ): Promise<{ settings: InstanceSettings; impact: ExpiryImpact }> {
      requireAdmin(principal);
      const current = await get();
      const next = { ...current, ...changes };
      const impact = await expiryImpact(next.token_expiry_seconds);
      return { settings: dryRun ? next : await update(changes), impact };
    },
  };
}
