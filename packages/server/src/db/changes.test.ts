import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { setImmediate as nextTurn } from 'node:timers/promises';
import SQLite from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { watchSqlite } from './changes.js';

const log = { warn: () => {}, info: () => {} };

describe('watchSqlite', () => {
  let dir: string;
  let ours: SQLite.Database;
  let theirs: SQLite.Database;
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gatehouse-changes-'));
    const file = path.join(dir, 'db.sqlite');
    ours = new SQLite(file);
    ours.pragma('journal_mode = WAL');
    ours.exec('create table t (a integer)');
    theirs = new SQLite(file);
  });
  afterEach(() => {
    ours.close();
    theirs.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it("reports another connection's commit on the first check of the next turn", async () => {
    let changes = 0;
    const feed = watchSqlite(ours)(() => changes++, log);
    expect(feed.isCurrent()).toBe(true);
    expect(changes).toBe(0);

    theirs.exec('insert into t values (1)');
    await nextTurn();
    expect(feed.isCurrent()).toBe(true);
    expect(changes).toBe(1);

    // Nothing committed since: nothing to report.
    await nextTurn();
    expect(feed.isCurrent()).toBe(true);
    expect(changes).toBe(1);
  });

  it('reads the version once per turn of the event loop, however many requests ask', async () => {
    let changes = 0;
    const feed = watchSqlite(ours)(() => changes++, log);
    expect(feed.isCurrent()).toBe(true);
    theirs.exec('insert into t values (1)');
    // Same turn: the version read at its start stands for the whole turn.
    expect(feed.isCurrent()).toBe(true);
    expect(changes).toBe(0);
    await nextTurn();
    expect(feed.isCurrent()).toBe(true);
    expect(changes).toBe(1);
  });

  it('is not current once the database cannot be read', async () => {
    const feed = watchSqlite(ours)(() => {}, log);
    await nextTurn();
    ours.close();
    expect(feed.isCurrent()).toBe(false);
    ours = new SQLite(path.join(dir, 'db.sqlite'));
  });
});
