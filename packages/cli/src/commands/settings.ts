import { parseSettingValue } from '@gatehouse/server';
import type { Command } from 'commander';
import { CliError, type Io, type Services, say, withRuntime } from '../context.js';
import { duration, perMinute, plural } from '../format.js';

type Settings = Awaited<ReturnType<Services['settings']['get']>>;
type Impact = Awaited<ReturnType<Services['settings']['expiryImpact']>>;

/** A value as an operator reads it: the raw value, then what it means. */
function described(key: string, value: unknown): string {
  if (key === 'token_expiry_seconds') {
    return value === null ? 'null (off: tokens do not expire)' : `${value} (${duration(value as number)})`;
  }
  if (key === 'rate_limit_per_minute') return perMinute(value as number);
  return JSON.stringify(value);
}

function knownKey(settings: Settings, key: string): keyof Settings {
  if (!Object.hasOwn(settings, key)) {
    throw new CliError(`Unknown setting "${key}". Known settings: ${Object.keys(settings).join(', ')}.`);
  }
  return key as keyof Settings;
}

const impactLines = (impact: Impact): string[] => [
  `Tokens that would stop working at once: ${impact.tokens_expiring_now} (of ${plural(impact.users_affected_now, 'user')})`,
  `Tokens that would expire within the next 7 days: ${impact.tokens_expiring_within_7_days} (of ${plural(impact.users_affected_within_7_days, 'user')})`,
];

export function registerSettingsCommands(program: Command, io: Io): void {
  const settings = program.command('settings').description('read and change instance settings');

  settings
    .command('get')
    .description('print every setting, or the raw value of one')
    .argument('[key]', 'a setting name, e.g. token_expiry_seconds')
    .action(async (key: string | undefined) => {
      await withRuntime(io, async ({ services }) => {
        const current = await services.settings.get();
        if (key !== undefined) {
          say(io.stdout, JSON.stringify(current[knownKey(current, key)]));
          return;
        }
        const width = Math.max(...Object.keys(current).map((name) => name.length));
        for (const [name, value] of Object.entries(current)) {
          say(io.stdout, `${name.padEnd(width)}  ${described(name, value)}`);
        }
      });
    });

  settings
    .command('set')
    .description(
      'change a setting; token_expiry_seconds takes seconds, or null/off to turn expiry off; ' +
        'rate_limit_per_minute takes requests per minute per user',
    )
    .argument('<key>', 'a setting name, e.g. token_expiry_seconds')
    .argument('<value>', 'the new value, e.g. 7776000 (90 days), off, or 600 (requests per minute)')
    .option('--dry-run', 'print what the change would do, without saving it')
    .action(async (key: string, raw: string, opts: { dryRun?: boolean }) => {
      await withRuntime(io, async ({ services }) => {
        const current = await services.settings.get();
        const name = knownKey(current, key);
        const value = parseSettingValue(name, raw);
        if (current[name] === value) {
          say(io.stdout, `${name} is already ${described(name, value)}; nothing changed.`);
          return;
        }
        say(io.stdout, `${name}: ${described(name, current[name])} -> ${described(name, value)}`);
        if (name === 'token_expiry_seconds') {
          say(io.stdout, ...impactLines(await services.settings.expiryImpact(value)));
        }
        if (name === 'rate_limit_per_minute') {
          say(io.stdout, 'Users with their own limit keep it (see gatehouse users rate-limit).');
        }
        if (opts.dryRun === true) {
          say(io.stdout, 'Dry run: nothing was saved.');
          return;
        }
        await services.settings.update({ [name]: value });
        say(io.stdout, 'Saved.');
      });
    });
}
