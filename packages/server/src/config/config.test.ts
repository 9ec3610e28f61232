import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from './config.js';

describe('loadConfig', () => {
  it('has embedded defaults: loopback, port 3000, SQLite in ./data', () => {
    const config = loadConfig({});
    expect(config).toMatchObject({
      host: '127.0.0.1',
      port: 3000,
      dataDir: path.resolve('./data'),
      databaseUrl: null,
      adminEmail: null,
      adminPassword: null,
      logLevel: 'info',
      cookieSecure: false,
    });
    expect(Object.isFrozen(config)).toBe(true);
  });

  it('reads every variable', () => {
    const config = loadConfig({
      PORT: '8080',
      HOST: '0.0.0.0',
      GATEHOUSE_DATA_DIR: '/srv/gatehouse',
      DATABASE_URL: 'postgres://u:p@db:5432/gatehouse',
      GATEHOUSE_ADMIN_EMAIL: 'ops@example.com',
      GATEHOUSE_ADMIN_PASSWORD: 'a long enough password',
      LOG_LEVEL: 'warn',
      GATEHOUSE_COOKIE_SECURE: 'true',
      GATEHOUSE_SESSION_TTL_SECONDS: '600',
    });
    expect(config).toMatchObject({
      port: 8080,
      host: '0.0.0.0',
      dataDir: '/srv/gatehouse',
      databaseUrl: 'postgres://u:p@db:5432/gatehouse',
      adminEmail: 'ops@example.com',
      logLevel: 'warn',
      cookieSecure: true,
      sessionTtlSeconds: 600,
    });
  });

  it('reports every bad value at once, one clear line each', () => {
    let error: unknown;
    try {
      loadConfig({
        PORT: 'eighty',
        DATABASE_URL: 'mysql://x',
        GATEHOUSE_ADMIN_EMAIL: 'not-an-email',
        LOG_LEVEL: 'loud',
        GATEHOUSE_COOKIE_SECURE: 'maybe',
      });
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(ConfigError);
    const problems = (error as ConfigError).problems;
    expect(problems).toHaveLength(6);
    expect(problems.join('\n')).toMatch(/PORT must be a whole number from 0 to 65535, got "eighty"/);
    expect(problems.join('\n')).toMatch(/DATABASE_URL must be a postgres:\/\//);
    expect(problems.join('\n')).toMatch(/GATEHOUSE_ADMIN_EMAIL must be an email address/);
    expect(problems.join('\n')).toMatch(/must be set together/);
    expect(problems.join('\n')).toMatch(/LOG_LEVEL must be one of/);
    expect(problems.join('\n')).toMatch(/GATEHOUSE_COOKIE_SECURE must be true or false/);
  });

  it('refuses a short admin password and an out-of-range port', () => {
    expect(() => loadConfig({ GATEHOUSE_ADMIN_EMAIL: 'a@b.c', GATEHOUSE_ADMIN_PASSWORD: 'short' })).toThrow(
      /at least 12 characters/,
    );
    expect(() => loadConfig({ PORT: '70000' })).toThrow(/PORT/);
  });
});
