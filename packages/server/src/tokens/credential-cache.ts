import { LRUCache } from 'lru-cache';
import type { ChangeFeed, FeedLog, WatchChanges } from '../db/changes.js';

/** How long an entry may be served at most, whatever the change feed says: a safety net, not a rule. */
export const CACHE_MAX_AGE_MS = 30_000;

export interface CredentialCacheOptions {
  /** Entries kept at most (least recently used go first); 0 turns the cache off. */
  size: number;
  /** Reports changes made outside this process (db/changes.ts). */
  watch: WatchChanges;
}

/**
 * A per-process cache of what authenticating a token reads from the database, keyed by the
 * token's hash. It answers only while it can vouch that nothing changed since the entry was
 * read: this process's services make every change to tokens, users
 * or instance settings, and the change feed reports changes made elsewhere. Until `start()` (and
 * after `stop()`, or while the feed is down) it answers nothing, so the CLI, which never starts
 * it, always reads the database. Rules (expiry, archive, roles) are evaluated on every request
 * from the entry; only the database read is saved.
 */
export class CredentialCache<V extends object> {
  readonly #entries: LRUCache<string, V> | null;
  readonly #watch: WatchChanges;
  #feed: ChangeFeed | null = null;
  #generation = 0;

  constructor({ size, watch }: CredentialCacheOptions) {
    this.#entries = size > 0 ? new LRUCache<string, V>({ max: size, ttl: CACHE_MAX_AGE_MS }) : null;
    this.#watch = watch;
  }

  /** Starts answering, watching for changes made elsewhere. */
  start(log: FeedLog): void {
    if (this.#entries === null || this.#feed !== null) return;
    this.changed();
    this.#feed = this.#watch(() => this.changed(), log);
  }

  async stop(): Promise<void> {
    const feed = this.#feed;
    this.#feed = null;
    this.changed();
    await feed?.close();
  }

  /** The entry for `key`, if the cache holds one it can vouch for now. */
  get(key: string): V | undefined {
    if (this.#entries === null || this.#feed === null || !this.#feed.isCurrent()) return undefined;
    return this.#entries.get(key);
  }

  /**
   * Where the cache stands before a database read; hand it to `set` with what was read. An
   * answer read while a change was being made is not kept, since it may predate the change.
   */
  get generation(): number {
    return this.#generation;
  }

  set(key: string, value: V, readAtGeneration: number): void {
    if (this.#entries === null || this.#feed === null || readAtGeneration !== this.#generation) return;
    this.#entries.set(key, value);
  }

  /** Credentials may have changed: forget everything. Call once the change is committed. */
  changed(): void {
    this.#generation += 1;
    this.#entries?.clear();
  }

  /**
   * Runs a write that can change credentials, then forgets everything, whether the write went
   * through or not (a failed commit may still have landed). Every service write to tokens,
   * users or settings goes through here.
   */
  async changing<T>(write: () => Promise<T>): Promise<T> {
    try {
      return await write();
    } finally {
      this.changed();
    }
  }

  get size(): number {
    return this.#entries?.size ?? 0;
  }

  /** Whether the cache answers right now: started, and its change feed current. */
  get active(): boolean {
    return this.#entries !== null && this.#feed?.isCurrent() === true;
  }
}

/** What services that change credentials need to know of the cache. */
export type CredentialChanges = Pick<CredentialCache<object>, 'changing'>;
