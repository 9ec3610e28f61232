import { describe, expect, it } from 'vitest';
import { migrations } from './migrate.js';

describe('the migration list', () => {
  it('is in the order Kysely runs it (names sorted), so a new migration cannot run before an older one', () => {
    const names = Object.keys(migrations);
    expect(names).toEqual([...names].sort());
    expect(names.every((name) => /^\d{4}-\d{2}-\d{2}-[a-z0-9-]+$/.test(name))).toBe(true);
  });
});
