import { loadConfig, openRuntime, type Runtime } from '@gatehouse/server';

/** Anything with a `write(string)`: process streams in the binary, string collectors in tests. */
export interface Output {
  write(chunk: string): unknown;
}

export interface Io {
  stdout: Output;
  stderr: Output;
  env: NodeJS.ProcessEnv;
}

/** A failure the operator can fix: printed as one line, with the exit code given (1 unless a usage error). */
export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode = 1,
  ) {
    super(message);
    this.name = 'CliError';
  }
}

export type Services = Runtime['services'];
export type User = NonNullable<Awaited<ReturnType<Services['users']['findByEmail']>>>;

/** Writes lines to a stream, each ending in a newline. */
export const say = (out: Output, ...lines: string[]): void => {
  for (const line of lines) out.write(`${line}\n`);
};

/**
 * Opens the configured database (migrating it first), runs `work` and always closes the
 * database again, so every command leaves no handle or pool behind.
 */
export async function withRuntime<T>(io: Io, work: (runtime: Runtime) => Promise<T>): Promise<T> {
  const runtime = await openRuntime(loadConfig(io.env));
  try {
    return await work(runtime);
  } finally {
    await runtime.close();
  }
}

export async function userByEmail(services: Services, email: string): Promise<User> {
  const user = await services.users.findByEmail(email);
  if (user === undefined) throw new CliError(`No user has the email "${email}".`);
  return user;
}
