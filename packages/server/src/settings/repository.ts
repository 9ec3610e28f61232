import type { Kysely } from 'kysely';
import type { Database } from '../db/schema.js';

/** Every stored setting as its JSON text, by key. */
export async function readSettings(db: Kysely<Database>): Promise<Record<string, string>> {
  const rows = await db.selectFrom('instance_settings').select(['key', 'value']).execute();
  return Object.fromEntries(rows.map((r) => [r.key, r.value]));
}

export async function writeSetting(db: Kysely<Database>, key: string, value: unknown, now: string): Promise<void> {
  const json = JSON.stringify(value);
  await db
    .insertInto('instance_settings')
    .values({ key, value: json, updated_at: now })
    .onConflict((oc) => oc.column('key').doUpdateSet({ value: json, updated_at: now }))
    .execute();
}
