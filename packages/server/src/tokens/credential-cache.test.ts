import { describe, expect, it } from 'vitest';
import type { ChangeFeed, FeedLog, WatchChanges } from '../db/changes.js';
import { CredentialCache } from './credential-cache.js';

const silent: FeedLog = { warn: () => {}, info: () => {} };

/** A feed the test drives: `current` is what isCurrent answers, `report()` is a change seen elsewhere. */
function fakeFeed() {
  const state = { current: true, closed: false, report: () => {} };
  const watch: WatchChanges = (onChange) => {
    state.report = onChange;
    const feed: ChangeFeed = {
      isCurrent: () => state.current,
      close: async () => {
        state.closed = true;
      },
    };
    return feed;
  };
  return { state, watch };
}

function startedCache(size = 10) {
  const feed = fakeFeed();
  const cache = new CredentialCache<{ v: number }>({ size, watch: feed.watch });
  cache.start(silent);
  return { cache, feed };
}

describe('the credential cache', () => {
  it('answers nothing until started, so a process that never starts it (the CLI) always reads', () => {
    const feed = fakeFeed();
    const cache = new CredentialCache<{ v: number }>({ size: 10, watch: feed.watch });
    cache.set('a', { v: 1 }, cache.generation);
    expect(cache.get('a')).toBeUndefined();
    cache.start(silent);
    cache.set('a', { v: 1 }, cache.generation);
    expect(cache.get('a')).toEqual({ v: 1 });
  });

  it('is active only while started with a current feed', async () => {
    const feed = fakeFeed();
    const cache = new CredentialCache<{ v: number }>({ size: 10, watch: feed.watch });
    expect(cache.active).toBe(false);
    cache.start(silent);
    expect(cache.active).toBe(true);
    feed.state.current = false;
    expect(cache.active).toBe(false);
    feed.state.current = true;
    await cache.stop();
    expect(cache.active).toBe(false);
  });

  it('forgets everything when told of a change, here or elsewhere', () => {
    const { cache, feed } = startedCache();
    cache.set('a', { v: 1 }, cache.generation);
    cache.changed();
    expect(cache.get('a')).toBeUndefined();
    cache.set('a', { v: 2 }, cache.generation);
    feed.state.report();
    expect(cache.get('a')).toBeUndefined();
  });

  it('forgets everything after a write made through it, even one that failed', async () => {
    const { cache } = startedCache();
    cache.set('a', { v: 1 }, cache.generation);
    expect(await cache.changing(async () => 'done')).toBe('done');
    expect(cache.get('a')).toBeUndefined();
    cache.set('a', { v: 2 }, cache.generation);
    await expect(
      cache.changing(async () => {
        throw new Error('commit failed');
      }),
    ).rejects.toThrow('commit failed');
    expect(cache.get('a')).toBeUndefined();
  });

  it('does not keep an answer read while a change was made', () => {
    const { cache } = startedCache();
    const before = cache.generation;
    cache.changed(); // e.g. a revocation committed while the read was in flight
    cache.set('a', { v: 1 }, before);
    expect(cache.get('a')).toBeUndefined();
    expect(cache.size).toBe(0);
  });

  it('answers nothing while the feed cannot vouch for it', () => {
    const { cache, feed } = startedCache();
    cache.set('a', { v: 1 }, cache.generation);
    feed.state.current = false;
    expect(cache.get('a')).toBeUndefined();
    feed.state.current = true;
    expect(cache.get('a')).toEqual({ v: 1 });
  });

  it('stops answering and closes the feed when stopped', async () => {
    const { cache, feed } = startedCache();
    cache.set('a', { v: 1 }, cache.generation);
    await cache.stop();
    expect(feed.state.closed).toBe(true);
    expect(cache.get('a')).toBeUndefined();
    cache.set('a', { v: 1 }, cache.generation);
    expect(cache.size).toBe(0);
  });

  it('keeps at most its size, dropping the least recently used', () => {
    const { cache } = startedCache(2);
    cache.set('a', { v: 1 }, cache.generation);
    cache.set('b', { v: 2 }, cache.generation);
    cache.get('a');
    cache.set('c', { v: 3 }, cache.generation);
    expect(cache.size).toBe(2);
    expect(cache.get('b')).toBeUndefined();
    expect(cache.get('a')).toEqual({ v: 1 });
  });

  it('is off at size 0: starts no feed and keeps nothing', () => {
    let watched = false;
    const cache = new CredentialCache<{ v: number }>({
      size: 0,
      watch: () => {
        watched = true;
        return { isCurrent: () => true, close: async () => {} };
      },
    });
    cache.start(silent);
    cache.set('a', { v: 1 }, cache.generation);
    expect(watched).toBe(false);
    expect(cache.get('a')).toBeUndefined();
  });
});
