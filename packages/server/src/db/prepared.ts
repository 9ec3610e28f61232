import type { Compilable, CompiledQuery, Kysely } from 'kysely';
import type { Database } from './schema.js';

/** Runs a compiled read directly on a driver, skipping Kysely's executor (see openSqlite). */
export type DirectReader = (sql: string, parameters: readonly unknown[]) => unknown[];
const directReaders = new WeakMap<Kysely<Database>, DirectReader>();

/**
 * Lets prepared reads on `db` go straight to the driver. Only for a driver whose calls are
 * synchronous (better-sqlite3): Kysely's per-query executor, connection hand-off and result
 * copy cost several times the look-up. Such a read can run between two statements of an open
 * transaction and see its uncommitted rows; the prepared reads are authentication look-ups,
 * and every transaction here only revokes or archives, so that can refuse early, never admit.
 * Such a read can also be cached (tokens/credential-cache.ts); that is safe because the writer
 * empties the cache once its transaction ends, committed or not.
 */
export function registerDirectReader(db: Kysely<Database>, reader: DirectReader): void {
  directReaders.set(db, reader);
}

/**
 * A hot-path query built and compiled once per database handle, then run with new arguments.
 * Kysely otherwise rebuilds and recompiles the query on every call, which costs several
 * times more than the indexed look-up itself. Arguments are marked with sentinel values at
 * compile time and swapped in at run time, so the SQL stays the query builder's, on any dialect.
 */
export function prepared<Row, Args extends string[]>(
  arity: Args['length'],
  build: (db: Kysely<Database>, ...args: Args) => Compilable<Row>,
): (db: Kysely<Database>, ...args: Args) => Promise<Row[]> {
  const compiledFor = new WeakMap<Kysely<Database>, { query: CompiledQuery<Row>; slots: number[] }>();
  const sentinels = Array.from({ length: arity }, (_, i) => `\u0000gatehouse-argument-${i}\u0000`) as Args;

  return async (db, ...args) => {
    let entry = compiledFor.get(db);
    if (entry === undefined) {
      const query = build(db, ...sentinels).compile();
      const slots = query.parameters.map((p) => sentinels.indexOf(p as string));
      if (sentinels.some((_, i) => !slots.includes(i))) throw new Error('prepared query ignores an argument');
      entry = { query, slots };
      compiledFor.set(db, entry);
    }
    const { query, slots } = entry;
    const parameters = query.parameters.map((p, i) => {
      const slot = slots[i] as number;
      return slot === -1 ? p : args[slot];
    });
    const direct = directReaders.get(db);
    if (direct !== undefined) return direct(query.sql, parameters) as Row[];
    const result = await db.executeQuery<Row>({ ...query, parameters });
    return result.rows;
  };
}
