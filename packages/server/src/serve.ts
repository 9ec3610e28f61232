import { buildApp } from './app.js';
import { ensureAdmin } from './bootstrap.js';
import type { Config } from './config/config.js';
import { openRuntime } from './runtime.js';
import { countUsers } from './users/repository.js';

/** Starts Gatehouse: migrate, make sure an admin exists, listen, and stop cleanly on SIGINT/SIGTERM. */
export async function serve(config: Config): Promise<void> {
  const runtime = await openRuntime(config);
  const app = await buildApp(config, { services: runtime.services, ping: runtime.ping });
  const boot = await ensureAdmin(runtime.services, config, async () => (await countUsers(runtime.database.db)) === 0);
  if (boot.kind === 'default_admin') {
    // Printed to standard error, apart from the JSON log lines on standard output, and only on the
    // start that created the user.
    process.stderr.write(
      `\nCreated the first admin: ${boot.email}\nOne-time password: ${boot.password}\n` +
        'Sign in and change it, or set GATEHOUSE_ADMIN_EMAIL and GATEHOUSE_ADMIN_PASSWORD before the first start.\n\n',
    );
  } else if (boot.kind === 'configured_admin') {
    app.log.info({ email: boot.email }, 'created the configured admin');
  }

  let closing = false;
  const shutdown = async (signal: string) => {
    if (closing) return;
    closing = true;
    app.log.info({ signal }, 'shutting down');
    await app.close();
    await runtime.close();
  };
  process.once('SIGINT', () => void shutdown('SIGINT'));
  process.once('SIGTERM', () => void shutdown('SIGTERM'));

  const address = await app.listen({ host: config.host, port: config.port });
  app.log.info(
    { address, database: runtime.database.dialect, location: runtime.database.location },
    'Gatehouse is listening',
  );
}
