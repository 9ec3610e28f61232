import { loadConfig, migrateToLatest, openDatabase, serve } from '@gatehouse/server';
import type { Command } from 'commander';
import { type Io, say } from '../context.js';

export function registerSystemCommands(program: Command, io: Io): void {
  program
    .command('serve')
    .description('start the Gatehouse server (migrates the database first)')
    .action(async () => {
      // The server owns its database from here and closes it on SIGINT/SIGTERM.
      await serve(loadConfig(io.env));
    });

  program
    .command('migrate')
    .description('bring the database schema up to date and print the migrations that ran')
    .action(async () => {
      const database = openDatabase(loadConfig(io.env));
      try {
        const results = await migrateToLatest(database.db);
        const ran = results.filter((r) => r.status === 'Success').map((r) => r.migrationName);
        say(io.stdout, `Database: ${database.location}`);
        if (ran.length === 0) say(io.stdout, 'Already up to date; no migrations ran.');
        else say(io.stdout, `Ran ${ran.length} migration${ran.length === 1 ? '' : 's'}:`, ...ran.map((n) => `  ${n}`));
      } finally {
        await database.close();
      }
    });
}
