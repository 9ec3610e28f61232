import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { createLogger, LOG_BACKLOG_LIMIT_BYTES, standardOutput } from './logging.js';

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
    const output = standardOutput((lines) => {
      dropped += lines;
    }, fd);
    const stream = output as unknown as NodeJS.EventEmitter & { destroy(): void; _len: number };
    cleanups.push(() => {
      stream.on('error', () => {}); // a retried write may still find the pipe closed
      stream.destroy();
      fs.rmSync(dir, { recursive: true, force: true });
    });

    const log = createLogger('info', output);
    const filler = 'x'.repeat(1000);
    const lines = Math.ceil((2 * LOG_BACKLOG_LIMIT_BYTES) / 1000);
    for (let i = 0; i < lines; i++) log.info({ filler }, 'request completed');

    expect(dropped).toBeGreaterThan(lines / 4);
    expect(dropped).toBeLessThan(lines);
    // What is held back stays within the cap, however much more is logged.
    expect(stream._len).toBeLessThanOrEqual(LOG_BACKLOG_LIMIT_BYTES);
  });
});
