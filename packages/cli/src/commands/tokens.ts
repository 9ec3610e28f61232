import type { Command } from 'commander';
import { CliError, type Io, type Services, say, userByEmail, withRuntime } from '../context.js';
import { printable, table } from '../format.js';

type Token = Awaited<ReturnType<Services['tokens']['listOf']>>['items'][number];

const PAGE_SIZE = 100;

async function allTokens(services: Services, userId: string): Promise<Token[]> {
  const tokens: Token[] = [];
  for (let number = 1; ; number++) {
    const { items, total } = await services.tokens.listOf(userId, { number, size: PAGE_SIZE });
    tokens.push(...items);
    if (items.length === 0 || tokens.length >= total) return tokens;
  }
}

/** What the list shows of a token: never the token or its hash, which the service does not even return. */
const listed = (t: Token) => ({
  id: t.id,
  label: t.label,
  hint: t.hint,
  created_at: t.created_at,
  expires_at: t.expires_at,
  last_accessed_at: t.last_accessed_at,
});

export function registerTokenCommands(program: Command, io: Io): void {
  const tokens = program.command('tokens').description("create, list and revoke a user's API tokens");

  tokens
    .command('create')
    .description('create a token for a user; the token alone is the last line of standard output')
    .requiredOption('--email <email>', 'email address of the user (needs the developer role)')
    .requiredOption('--label <label>', 'what the token is for, 1 to 100 characters')
    .action(async (opts: { email: string; label: string }) => {
      await withRuntime(io, async ({ services }) => {
        const user = await userByEmail(services, opts.email);
        if (user.archived_at !== null) throw new CliError(`${user.email} is archived; its tokens cannot work.`);
        if (!user.roles.includes('developer')) {
          throw new CliError(
            `${user.email} does not have the developer role, so a token would not work. Grant it first with: ` +
              `gatehouse users roles --email ${user.email} ${user.roles.map((r) => `--role ${r} `).join('')}--role developer`,
          );
        }
        const issued = await services.tokens.issue(user.id, opts.label);
        const expiry = issued.expires_at === null ? 'It does not expire.' : `It expires at ${issued.expires_at}.`;
        say(
          io.stderr,
          `Created token "${printable(issued.label)}" (id ${issued.id}) for ${user.email}. ${expiry}`,
          'Store it now: it is shown only this once.',
        );
        say(io.stdout, issued.token);
      });
    });

  tokens
    .command('list')
    .description("list a user's tokens (never the tokens themselves)")
    .requiredOption('--email <email>', 'email address of the user')
    .option('--json', 'print a JSON array instead of a table')
    .action(async (opts: { email: string; json?: boolean }) => {
      await withRuntime(io, async ({ services }) => {
        const user = await userByEmail(services, opts.email);
        const rows = (await allTokens(services, user.id)).map(listed);
        if (opts.json === true) {
          say(io.stdout, JSON.stringify(rows, null, 2));
          return;
        }
        if (rows.length === 0) {
          say(io.stdout, `${user.email} has no tokens.`);
          return;
        }
        const now = new Date().toISOString();
        const expiry = (at: string | null) => (at === null ? 'never' : at <= now ? `${at} (expired)` : at);
        const headers = ['id', 'label', 'hint', 'created_at', 'expires_at', 'last_accessed_at'];
        const body = rows.map((t) => [
          t.id,
          t.label,
          t.hint,
          t.created_at,
          expiry(t.expires_at),
          t.last_accessed_at ?? 'never',
        ]);
        say(io.stdout, ...table(headers, body));
      });
    });

  tokens
    .command('revoke')
    .description("revoke (delete) one of a user's tokens; it fails on its next request")
    .requiredOption('--email <email>', 'email address of the user')
    .requiredOption('--id <id>', 'id of the token, as shown by tokens list')
    .action(async (opts: { email: string; id: string }) => {
      await withRuntime(io, async ({ services }) => {
        const user = await userByEmail(services, opts.email);
        if (!(await services.tokens.revokeOf(user.id, opts.id))) {
          throw new CliError(`${user.email} has no token with id "${printable(opts.id)}".`);
        }
        say(io.stdout, `Revoked token ${opts.id} of ${user.email}.`);
      });
    });
}
