import { type ChildProcess, execFile, spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { TOKEN_LINE } from './helpers.js';

const BIN = path.resolve(import.meta.dirname, '../bin/gatehouse.js');
const BUILT = path.resolve(import.meta.dirname, '../dist/main.js');
const execFileAsync = promisify(execFile);

describe('the built gatehouse binary', () => {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'gatehouse-cli-bin-'));
  const env = { PATH: process.env.PATH ?? '', GATEHOUSE_DATA_DIR: dataDir };
  const children: ChildProcess[] = [];

  beforeAll(() => {
    if (!fs.existsSync(BUILT)) throw new Error(`${BUILT} is missing: run \`npm run build\` first (npm test does)`);
  });
  afterEach(() => {
    for (const child of children.splice(0)) if (child.exitCode === null) child.kill('SIGKILL');
  });
  afterAll(() => fs.rmSync(dataDir, { recursive: true, force: true }));

  const gatehouse = (...argv: string[]) => execFileAsync(process.execPath, [BIN, ...argv], { env });

  it('creates a token a script can take with `tail -1`, and `serve` accepts it', async () => {
    await gatehouse('users', 'create', '--email', 'ci@example.test', '--role', 'developer');
    const { stdout } = await gatehouse('tokens', 'create', '--email', 'ci@example.test', '--label', 'ci');
    const token = stdout.trimEnd().split('\n').at(-1) ?? '';
    expect(token).toMatch(TOKEN_LINE);

    const server = spawn(process.execPath, [BIN, 'serve'], {
      env: { ...env, HOST: '127.0.0.1', PORT: '0', LOG_LEVEL: 'info' },
    });
    children.push(server);
    const address = await new Promise<string>((resolve, reject) => {
      let output = '';
      const timer = setTimeout(() => reject(new Error(`serve did not start:\n${output}`)), 20_000);
      server.stdout.on('data', (chunk) => {
        output += chunk;
        const match = /"address":"(http:\/\/127\.0\.0\.1:\d+)"/.exec(output);
        if (match?.[1] !== undefined) {
          clearTimeout(timer);
          resolve(match[1]);
        }
      });
      server.stderr.on('data', (chunk) => {
        output += chunk;
      });
      server.on('exit', (code) => reject(new Error(`serve exited with ${code}:\n${output}`)));
    });
    const me = await fetch(`${address}/core/users/me`, { headers: { authorization: `Bearer ${token}` } });
    expect(me.status).toBe(200);

    const exited = new Promise<number | null>((resolve) => server.once('exit', resolve));
    server.kill('SIGTERM');
    expect(await exited).toBe(0);
  });

  it('exits non-zero with the message on stderr for an unknown email', async () => {
    const failure = await gatehouse('tokens', 'create', '--email', 'ghost@example.test', '--label', 'x').then(
      () => undefined,
      (err: { code: number; stdout: string; stderr: string }) => err,
    );
    expect(failure).toMatchObject({
      code: 1,
      stdout: '',
      stderr: 'error: No user has the email "ghost@example.test".\n',
    });
  });
});
