import { describe, expect, it } from 'vitest';
import { prepared } from '../src/db/prepared.js';
import { DIALECTS, useTestApp } from './harness.js';

describe.each(DIALECTS)('prepared queries (%s)', (dialect) => {
  const t = useTestApp(dialect);

  it('runs the compiled query with each call’s own arguments, literals kept', async () => {
    const byEmailAndRoles = prepared(2, (db, email: string, roles: string) =>
      db
        .selectFrom('users')
        .select(['id', 'email'])
        .where('email', '=', email)
        .where('roles', '=', roles)
        .where('first_name', '=', 'Test'),
    );
    const a = await t.createUser(['developer']);
    const b = await t.createUser([]);
    expect(await byEmailAndRoles(t.db, a.email, '["developer"]')).toEqual([{ id: a.id, email: a.email }]);
    expect(await byEmailAndRoles(t.db, b.email, '[]')).toEqual([{ id: b.id, email: b.email }]);
    expect(await byEmailAndRoles(t.db, b.email, '["developer"]')).toEqual([]);
  });

  it('refuses a query that ignores one of its arguments', async () => {
    const broken = prepared(1, (db, _id: string) => db.selectFrom('users').select('id'));
    await expect(broken(t.db, 'x')).rejects.toThrow(/ignores an argument/);
  });
});
