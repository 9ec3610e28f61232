import path from 'node:path';
import { isProxySpec } from '../ratelimit/address.js';

export type LogLevel = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';

export interface Config {
  readonly host: string;
  readonly port: number;
  readonly dataDir: string;
  /** `postgres://…` switches storage to PostgreSQL; null means SQLite in `dataDir`. */
  readonly databaseUrl: string | null;
  readonly adminEmail: string | null;
  readonly adminPassword: string | null;
  readonly logLevel: LogLevel;
  /** Send the session cookie with `Secure`; turn on whenever Gatehouse is served over HTTPS. */
  readonly cookieSecure: boolean;
  readonly sessionTtlSeconds: number;
  /** `redis://…` shares rate limits between nodes; null keeps them in this process. */
  readonly redisUrl: string | null;
  /** Peers whose X-Forwarded-For is believed: addresses, CIDR ranges or loopback/linklocal/uniquelocal. */
  readonly trustedProxies: readonly string[];
  /** Authenticated tokens whose database read is cached per process; 0 reads the database on every request. */
  readonly credentialCacheSize: number;
}

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`Invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

const LOG_LEVELS: readonly LogLevel[] = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];

/**
 * Reads the environment once, validates every value and returns a frozen config.
 * All problems are reported together, one line each, so an operator fixes them in one go.
 */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const problems: string[] = [];
  const value = (name: string): string | undefined => {
    const v = env[name];
    return v === undefined || v.trim() === '' ? undefined : v.trim();
  };

  const int = (name: string, fallback: number, min: number, max: number): number => {
    const raw = value(name);
    if (raw === undefined) return fallback;
    const n = Number(raw);
    if (!/^\d+$/.test(raw) || n < min || n > max) {
      problems.push(`${name} must be a whole number from ${min} to ${max}, got "${raw}"`);
      return fallback;
    }
    return n;
  };

  const bool = (name: string, fallback: boolean): boolean => {
    const raw = value(name);
    if (raw === undefined) return fallback;
    if (['1', 'true', 'yes', 'on'].includes(raw.toLowerCase())) return true;
    if (['0', 'false', 'no', 'off'].includes(raw.toLowerCase())) return false;
    problems.push(`${name} must be true or false, got "${raw}"`);
    return fallback;
  };

  const port = int('PORT', 3000, 0, 65535);
  const host = value('HOST') ?? '127.0.0.1';
  const dataDir = path.resolve(value('GATEHOUSE_DATA_DIR') ?? './data');

  const databaseUrl = value('DATABASE_URL') ?? null;
  if (databaseUrl !== null && !/^postgres(ql)?:\/\//.test(databaseUrl)) {
    problems.push('DATABASE_URL must be a postgres:// or postgresql:// URL (leave it unset for SQLite)');
  }

  const adminEmail = value('GATEHOUSE_ADMIN_EMAIL') ?? null;
  const adminPassword = env.GATEHOUSE_ADMIN_PASSWORD ?? null;
  if (adminEmail !== null && !/^[^\s@]+@[^\s@]+$/.test(adminEmail)) {
    problems.push(`GATEHOUSE_ADMIN_EMAIL must be an email address, got "${adminEmail}"`);
  }
  if ((adminEmail === null) !== (adminPassword === null)) {
    problems.push('GATEHOUSE_ADMIN_EMAIL and GATEHOUSE_ADMIN_PASSWORD must be set together');
  }
  if (adminPassword !== null && adminPassword.length < 12) {
    problems.push('GATEHOUSE_ADMIN_PASSWORD must be at least 12 characters long');
  }

  const rawLevel = value('LOG_LEVEL') ?? 'info';
  const logLevel = LOG_LEVELS.find((l) => l === rawLevel);
  if (logLevel === undefined) problems.push(`LOG_LEVEL must be one of ${LOG_LEVELS.join(', ')}, got "${rawLevel}"`);

  const cookieSecure = bool('GATEHOUSE_COOKIE_SECURE', false);
  const sessionTtlSeconds = int('GATEHOUSE_SESSION_TTL_SECONDS', 12 * 3600, 60, 30 * 24 * 3600);

  const redisUrl = value('REDIS_URL') ?? null;
  if (redisUrl !== null && !/^rediss?:\/\//.test(redisUrl)) {
    problems.push('REDIS_URL must be a redis:// or rediss:// URL (leave it unset for in-memory limits)');
  }
  const trustedProxies = (value('GATEHOUSE_TRUSTED_PROXIES') ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');
  const badProxies = trustedProxies.filter((s) => !isProxySpec(s));
  if (badProxies.length > 0) {
    problems.push(
      `GATEHOUSE_TRUSTED_PROXIES must list addresses or CIDR ranges, comma-separated; not understood: ${badProxies.join(', ')}`,
    );
  }

  const credentialCacheSize = int('GATEHOUSE_CREDENTIAL_CACHE_SIZE', 10_000, 0, 1_000_000);

  if (problems.length > 0) throw new ConfigError(problems);
  return Object.freeze({
    host,
    port,
    dataDir,
    databaseUrl,
    adminEmail,
    adminPassword,
    logLevel: logLevel ?? 'info',
    cookieSecure,
    sessionTtlSeconds,
    redisUrl,
    trustedProxies: Object.freeze(trustedProxies),
    credentialCacheSize,
  });
}
