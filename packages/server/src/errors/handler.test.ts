import { describe, expect, it } from 'vitest';
import { openPostgres } from '../db/connect.js';
import { AppError } from './app-error.js';
import { toAppError } from './handler.js';

describe('toAppError', () => {
  it('turns storage outages into 503, whatever the dialect says', () => {
    for (const code of [
      'ECONNREFUSED',
      'SQLITE_BUSY',
      'SQLITE_IOERR_READ',
      'SQLITE_FULL',
      '08006',
      '53300',
      '57P03',
      '3D000',
    ]) {
      const error = toAppError(Object.assign(new Error('storage said no'), { code }));
      expect(error.status, code).toBe(503);
      expect(error.headers['retry-after']).toBe('5');
    }
  });

  it('keeps a bug a 500 that says nothing of its internals', () => {
    const error = toAppError(new TypeError('cannot read properties of undefined (secret detail)'));
    expect(error.status).toBe(500);
    expect(error.detail).not.toContain('secret detail');
  });

  it('passes an AppError through unchanged', () => {
    const original = new AppError('not_found', 'gone');
    expect(toAppError(original)).toBe(original);
  });
});

describe('the PostgreSQL location shown in logs', () => {
  it('hides the password wherever the URL carries it', async () => {
    const handle = openPostgres('postgres://gatehouse:hunter2@127.0.0.1:1/gatehouse?password=hunter3&sslmode=disable');
    expect(handle.location).not.toContain('hunter2');
    expect(handle.location).not.toContain('hunter3');
    expect(handle.location).toContain('127.0.0.1:1/gatehouse');
    await handle.close();
  });
});
