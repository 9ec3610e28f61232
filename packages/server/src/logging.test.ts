import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { createLogger, standardOutput } from './logging.js';

const cleanups: (() => void)[] = [];
afterEach(() => {
  for (const c of cleanups.splice(0)) c();
});

describe('the log output', () => {
  it('drops and counts lines, rather than holding them all, when its reader stops reading', async () => {
    // A pipe nobody reads: it fills after 64 KiB and every write after that has to wait.
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gatehouse-log-'));
    const fifo = path.join(dir, 'stuck');
    execFileSync('mkfifo', [fifo]);
    const fd = fs.openSync(fifo, fs.constants.O_RDWR | fs.constants.O_NONBLOCK);
    let dropped = 0;
    // A cap of 1 MiB rather than the 16 MiB of production, so that draining it takes moments.
    const cap = 1024 * 1024;
    const output = standardOutput(
      (lines) => {
        dropped += lines;
      },
      { fd, backlogLimitBytes: cap },
    );
    cleanups.push(() => fs.rmSync(dir, { recursive: true, force: true }));

    const log = createLogger('info', output);
    const filler = 'x'.repeat(1000);
    const lines = Math.ceil((2 * cap) / 1000);
    for (let i = 0; i < lines; i++) log.info({ filler }, 'request completed');

    expect(dropped).toBeGreaterThan(lines / 4);
    expect(dropped).toBeLessThan(lines);
    // What is held back stays within the cap, however much more is logged.
    expect(output.backlogBytes).toBeLessThanOrEqual(cap);

    // Once the reader reads again, the backlog drains, and every line not counted as dropped
    // arrives whole.
    const chunk = Buffer.alloc(1 << 16);
    let text = '';
    const deadline = Date.now() + 20_000;
    while (output.backlogBytes > 0 || text.split('\n').length - 1 < lines - dropped) {
      if (Date.now() > deadline)
        throw new Error(
          `the backlog did not drain: ${output.backlogBytes} bytes left, ${text.length} read, ${lines} lines, ${dropped} dropped`,
        );
      try {
        const n = fs.readSync(fd, chunk);
        text += chunk.toString('utf8', 0, n);
      } catch {
        await new Promise((resolve) => setTimeout(resolve, 5)); // EAGAIN: nothing to read yet
      }
    }
    const written = text.split('\n').filter((line) => line !== '');
    expect(written).toHaveLength(lines - dropped);
    expect(written.every((line) => (JSON.parse(line) as { filler: string }).filler === filler)).toBe(true);
    output.destroy(); // closes the pipe; safe now that no write is in flight
  });

  it('still writes under a cap smaller than one batch, and takes nothing after it is destroyed', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gatehouse-log-'));
    cleanups.push(() => fs.rmSync(dir, { recursive: true, force: true }));
    const file = path.join(dir, 'out.log');
    let dropped = 0;
    const output = standardOutput(
      (lines) => {
        dropped += lines;
      },
      { fd: fs.openSync(file, 'w'), backlogLimitBytes: 4096 },
    );
    const log = createLogger('info', output);
    for (let i = 0; i < 10; i++) log.info({ i }, 'request completed');
    const read = () =>
      fs
        .readFileSync(file, 'utf8')
        .split('\n')
        .filter((line) => line !== '');
    // Below one batch, the lines wait for the periodic flush (a second).
    const deadline = Date.now() + 5000;
    while (read().length < 10 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    output.destroy();
    const written = read();
    expect(dropped).toBe(0);
    expect(written.map((line) => (JSON.parse(line) as { i: number }).i)).toEqual([...Array(10).keys()]);
    output.write('{"late":true}\n');
    expect(output.backlogBytes).toBe(0);
  });

  it('writes text beyond ASCII byte for byte, one whole line per entry', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gatehouse-log-'));
    cleanups.push(() => fs.rmSync(dir, { recursive: true, force: true }));
    const file = path.join(dir, 'out.log');
    const fd = fs.openSync(file, 'w');
    const output = standardOutput(() => {}, { fd });
    const log = createLogger('info', output);
    const name = 'Örjan Søren 日本 ✓'.repeat(40);
    for (let i = 0; i < 40; i++) log.info({ name, i }, 'request completed'); // over one 8 KiB batch
    const deadline = Date.now() + 5000;
    while (output.backlogBytes > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    await new Promise((r) => setTimeout(r, 1200)); // the periodic flush writes what is below a batch
    const written = fs
      .readFileSync(file, 'utf8')
      .split('\n')
      .filter((line) => line !== '');
    expect(written.map((line) => (JSON.parse(line) as { name: string; i: number }).i)).toEqual(
      Array.from({ length: 40 }, (_, i) => i),
    );
    expect(written.every((line) => (JSON.parse(line) as { name: string }).name === name)).toBe(true);
    output.destroy();
  });
});
