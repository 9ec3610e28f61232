import { GLOBAL_ROLES, generatePassword, parseRateLimit } from '@gatehouse/server';
import { type Command, InvalidArgumentError } from 'commander';
import { CliError, type Io, say, type User, userByEmail, withRuntime } from '../context.js';
import { perMinute, plural } from '../format.js';

const ROLE_LIST = GLOBAL_ROLES.join(', ');

/** `--role` may be given many times; each value is checked here so a typo is a usage error. */
function collectRole(value: string, previous: string[] = []): string[] {
  if (!(GLOBAL_ROLES as readonly string[]).includes(value)) {
    throw new InvalidArgumentError(`Unknown role; choose from ${ROLE_LIST}.`);
  }
  return [...previous, value];
}

/** The same rule as the API; the message never repeats the password. */
function checkPassword(password: string): void {
  if (password.length < 12 || password.length > 1024) {
    throw new CliError('A password must be 12 to 1024 characters long.');
  }
}

const rolesText = (roles: readonly string[]): string => (roles.length === 0 ? 'no roles' : `roles ${roles.join(', ')}`);

/** The limit that applies to the user's tokens, and where it comes from. */
const rateLimitText = (user: User, instanceDefault: number): string =>
  user.rate_limit_per_minute === null
    ? `${perMinute(instanceDefault)}, the instance default`
    : `${perMinute(user.rate_limit_per_minute)}, its own limit`;

export function registerUserCommands(program: Command, io: Io): void {
  const users = program.command('users').description('create and manage user accounts');

  users
    .command('create')
    .description('create a user and print its id')
    .requiredOption('--email <email>', 'email address, used to sign in')
    .option('--role <role>', `global role, repeatable (${ROLE_LIST})`, collectRole)
    .option('--password <password>', 'password for the web app, 12+ characters (omit: the user cannot sign in)')
    .option('--first-name <name>', 'first name')
    .option('--last-name <name>', 'last name')
    .action(
      async (opts: { email: string; role?: string[]; password?: string; firstName?: string; lastName?: string }) => {
        if (opts.password !== undefined) checkPassword(opts.password);
        await withRuntime(io, async ({ services }) => {
          const user = await services.users.createUser({
            email: opts.email,
            roles: opts.role ?? [],
            password: opts.password,
            first_name: opts.firstName,
            last_name: opts.lastName,
          });
          say(io.stderr, `Created user ${user.email} with ${rolesText(user.roles)}.`);
          if (opts.password === undefined) {
            say(
              io.stderr,
              'It has no password, so it cannot sign in to the web app. Give it one with:',
              `  gatehouse users set-password --email ${user.email}`,
            );
          }
          say(io.stdout, user.id);
        });
      },
    );

  users
    .command('set-password')
    .description("set a user's web app password (generated and printed when not given); ends their sessions")
    .requiredOption('--email <email>', 'email address of the user')
    .option('--password <password>', 'the new password, 12+ characters (omit to generate one)')
    .action(async (opts: { email: string; password?: string }) => {
      if (opts.password !== undefined) checkPassword(opts.password);
      const password = opts.password ?? generatePassword();
      await withRuntime(io, async ({ services }) => {
        const user = await userByEmail(services, opts.email);
        const { sessions_ended } = await services.users.setPassword(user.id, password);
        say(io.stderr, `Set a new password for ${user.email}; ended ${plural(sessions_ended, 'web session')}.`);
        if (user.archived_at !== null) say(io.stderr, 'The user is archived, so it still cannot sign in.');
        if (opts.password === undefined) {
          say(io.stderr, 'The generated password follows; it is not shown again.');
          say(io.stdout, password);
        }
      });
    });

  users
    .command('roles')
    .description("replace a user's global roles")
    .requiredOption('--email <email>', 'email address of the user')
    .option('--role <role>', `global role, repeatable (${ROLE_LIST})`, collectRole)
    .option('--none', 'remove every global role')
    .action(async (opts: { email: string; role?: string[]; none?: boolean }, command: Command) => {
      if (opts.role !== undefined && opts.none === true) {
        command.error('error: give --role or --none, not both', { exitCode: 2, code: 'gatehouse.usage' });
      }
      if (opts.role === undefined && opts.none !== true) {
        command.error('error: give at least one --role, or --none to remove every role', {
          exitCode: 2,
          code: 'gatehouse.usage',
        });
      }
      await withRuntime(io, async ({ services }) => {
        const user = await userByEmail(services, opts.email);
        await services.users.setRoles(user.id, opts.role ?? []);
        const after = await userByEmail(services, opts.email);
        say(io.stdout, `${after.email} now has ${rolesText(after.roles)} (before: ${rolesText(user.roles)}).`);
      });
    });

  users
    .command('rate-limit')
    .description(
      "set or clear a user's own rate limit for requests with their tokens, and print the limit that applies",
    )
    .requiredOption('--email <email>', 'email address of the user')
    .requiredOption('--limit <limit>', 'requests per minute (a whole number), or "default" for the instance default')
    .action(async (opts: { email: string; limit: string }) => {
      const limit = parseRateLimit('--limit', opts.limit, true);
      await withRuntime(io, async ({ services }) => {
        const user = await userByEmail(services, opts.email);
        const { rate_limit_per_minute: instanceDefault } = await services.settings.get();
        if (user.rate_limit_per_minute === limit) {
          say(io.stdout, `${user.email} already has ${rateLimitText(user, instanceDefault)}; nothing changed.`);
          return;
        }
        await services.users.setRateLimit(user.id, limit);
        const after = await userByEmail(services, opts.email);
        say(
          io.stdout,
          `${after.email} now has ${rateLimitText(after, instanceDefault)} (before: ${rateLimitText(user, instanceDefault)}).`,
        );
        if (after.archived_at !== null) {
          say(io.stderr, 'The user is archived; the limit applies to the tokens it gets if it is unarchived.');
        }
      });
    });

  users
    .command('archive')
    .description('archive a user: revokes all their tokens for good and ends their web sessions')
    .requiredOption('--email <email>', 'email address of the user')
    .action(async (opts: { email: string }) => {
      await withRuntime(io, async ({ services }) => {
        const user = await userByEmail(services, opts.email);
        if (user.archived_at !== null) {
          say(io.stdout, `${user.email} was already archived at ${user.archived_at}.`);
          return;
        }
        const { total } = await services.tokens.listOf(user.id, { number: 1, size: 1 });
        await services.users.archiveUser(user.id);
        say(io.stdout, `Archived ${user.email}: revoked ${plural(total, 'token')} and ended their web sessions.`);
      });
    });
}
