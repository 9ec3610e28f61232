import { type Kysely, PostgresAdapter, sql } from 'kysely';

// Frozen: never edit a migration that has shipped; add a new one instead.
//
// PostgreSQL only: every committed change that can alter what a token may do notifies the
// `gatehouse_credentials` channel, whoever made it (a node, the CLI, hand-written SQL), so each
// node's credential cache drops what it holds. Recording a token's use (last_accessed_*) and
// adding users or tokens change nothing a cache holds, so they notify nobody. SQLite needs no
// trigger: a single node watches the file's data_version instead (db/changes.ts).
export async function up(db: Kysely<unknown>): Promise<void> {
  if (!(db.getExecutor().adapter instanceof PostgresAdapter)) return;
  await sql`
    CREATE FUNCTION gatehouse_credentials_changed() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      PERFORM pg_notify('gatehouse_credentials', TG_TABLE_NAME);
      RETURN NULL;
    END
    $$`.execute(db);
  await sql`
    CREATE TRIGGER users_credentials_changed AFTER UPDATE OR DELETE ON users
    FOR EACH STATEMENT EXECUTE FUNCTION gatehouse_credentials_changed()`.execute(db);
  await sql`
    CREATE TRIGGER user_app_tokens_credentials_changed
    AFTER DELETE OR UPDATE OF id, user_id, token_hash, created_at ON user_app_tokens
    FOR EACH STATEMENT EXECUTE FUNCTION gatehouse_credentials_changed()`.execute(db);
  await sql`
    CREATE TRIGGER instance_settings_credentials_changed AFTER INSERT OR UPDATE OR DELETE ON instance_settings
    FOR EACH STATEMENT EXECUTE FUNCTION gatehouse_credentials_changed()`.execute(db);
  for (const table of ['users', 'user_app_tokens', 'instance_settings']) {
    await sql`
      CREATE TRIGGER ${sql.raw(`${table}_truncated`)} AFTER TRUNCATE ON ${sql.table(table)}
      FOR EACH STATEMENT EXECUTE FUNCTION gatehouse_credentials_changed()`.execute(db);
  }
}

export async function down(db: Kysely<unknown>): Promise<void> {
  if (!(db.getExecutor().adapter instanceof PostgresAdapter)) return;
  await sql`DROP FUNCTION gatehouse_credentials_changed() CASCADE`.execute(db);
}
