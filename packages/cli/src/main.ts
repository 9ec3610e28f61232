import { readFileSync } from 'node:fs';
import { AppError, ConfigError } from '@gatehouse/server';
import { Command, CommanderError } from 'commander';
import { registerSettingsCommands } from './commands/settings.js';
import { registerSystemCommands } from './commands/system.js';
import { registerTokenCommands } from './commands/tokens.js';
import { registerUserCommands } from './commands/users.js';
import { CliError, type Io, say } from './context.js';

export type { Io, Output } from './context.js';

/** Exit codes: 0 done, 1 the command failed, 2 bad usage, 78 bad configuration (as the server uses). */
export const EXIT = { ok: 0, failed: 1, usage: 2, config: 78 } as const;

const { version } = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as {
  version: string;
};

function buildProgram(io: Io): Command {
  const program = new Command('gatehouse')
    .description(
      'Operate a Gatehouse instance: the server, its database, users, tokens and settings.\n' +
        'Uses the same environment as the server: GATEHOUSE_DATA_DIR (SQLite, default ./data) or DATABASE_URL.',
    )
    .version(version, '-V, --version')
    // Set before adding commands: subcommands inherit both.
    .exitOverride()
    .configureOutput({
      writeOut: (text) => void io.stdout.write(text),
      writeErr: (text) => void io.stderr.write(text),
      getOutHasColors: () => false,
      getErrHasColors: () => false,
    })
    .allowExcessArguments(false)
    .addHelpText(
      'after',
      [
        '',
        'Examples:',
        '  gatehouse users create --email ci-bot@example.com --role developer',
        '  TOKEN=$(gatehouse tokens create --email ci-bot@example.com --label "nightly CI" | tail -1)',
        '  gatehouse settings set token_expiry_seconds 7776000 --dry-run',
        '',
        'Run "gatehouse <command> --help" for the options of a command.',
      ].join('\n'),
    );
  registerSystemCommands(program, io);
  registerUserCommands(program, io);
  registerTokenCommands(program, io);
  registerSettingsCommands(program, io);
  return program;
}

/**
 * Runs one `gatehouse` command and resolves to its exit code; never calls `process.exit`.
 * `argv` holds the user's arguments only (no `node` and script path).
 */
export async function run(argv: readonly string[], io: Io): Promise<number> {
  try {
    await buildProgram(io).parseAsync([...argv], { from: 'user' });
    return EXIT.ok;
  } catch (err) {
    return report(err, io);
  }
}

function report(err: unknown, io: Io): number {
  // Commander has already printed its message (or the help) through configureOutput.
  if (err instanceof CommanderError) return err.exitCode === 0 ? EXIT.ok : EXIT.usage;
  if (err instanceof CliError) {
    say(io.stderr, `error: ${err.message}`);
    return err.exitCode;
  }
  if (err instanceof AppError) {
    say(io.stderr, `error: ${err.detail} (${err.code})`);
    return EXIT.failed;
  }
  if (err instanceof ConfigError) {
    say(io.stderr, `error: ${err.message}`);
    return EXIT.config;
  }
  say(io.stderr, `error: ${err instanceof Error ? err.message : String(err)}`);
  return EXIT.failed;
}
