import type { Insertable, Selectable, Updateable } from 'kysely';

/**
 * The one description of the database. Timestamps are ISO-8601 UTC strings with
 * milliseconds (`Date#toISOString`) on every dialect, so they compare correctly as text.
 */
export interface Database {
  users: UsersTable;
  user_app_tokens: UserAppTokensTable;
  sessions: SessionsTable;
  instance_settings: InstanceSettingsTable;
}

export interface UsersTable {
  id: string;
  email: string;
  /** Lower-cased email; unique, so sign-in and look-ups are case-insensitive. */
  email_normalized: string;
  first_name: string;
  last_name: string;
  password_hash: string | null;
  /** JSON array of global role names. */
  roles: string;
  created_at: string;
  updated_at: string;
  archived_at: string | null;
  /** Requests per minute for this user; null means the instance default. */
  rate_limit_per_minute: number | null;
}

export interface UserAppTokensTable {
  id: string;
  user_id: string;
  label: string;
  /** SHA-256 of the token, hex. The token itself is never stored. */
  token_hash: string;
  /** Last four characters of the token, for recognising it in a list. */
  hint: string;
  created_at: string;
  last_accessed_at: string | null;
  last_accessed_ip: string | null;
}

export interface SessionsTable {
  id: string;
  user_id: string;
  /** SHA-256 of the cookie's secret. */
  secret_hash: string;
  created_at: string;
  expires_at: string;
}

export interface InstanceSettingsTable {
  key: string;
  /** JSON-encoded value. */
  value: string;
  updated_at: string;
}

export type UserRow = Selectable<UsersTable>;
export type NewUserRow = Insertable<UsersTable>;
export type UserUpdate = Updateable<UsersTable>;
export type TokenRow = Selectable<UserAppTokensTable>;
