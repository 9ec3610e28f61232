import type SQLite from 'better-sqlite3';
import pg from 'pg';

/** The PostgreSQL channel the credential triggers notify (migration 2026-12-03-token-change-notifications). */
export const CREDENTIALS_CHANNEL = 'gatehouse_credentials';

/**
 * Tells a per-process cache when credentials (tokens, users, instance settings) may have been
 * changed by someone else: another node, the operator CLI, or SQL typed by hand. Changes made
 * through this process's own services are reported by the services themselves.
 */
export interface ChangeFeed {
  /**
   * Whether a cached credential may be served now. Reports any change seen since the last call
   * (through `onChange`) first; false while changes could go unseen, e.g. while disconnected.
   */
  isCurrent(): boolean;
  close(): Promise<void>;
}

export interface FeedLog {
  warn(fields: object, message: string): void;
  info(fields: object, message: string): void;
}

export type WatchChanges = (onChange: () => void, log: FeedLog) => ChangeFeed;

/**
 * SQLite: `PRAGMA data_version` changes whenever another connection (another process, such as
 * the CLI) commits. Checked on every cached read; it is a read of a counter in shared memory.
 */
export function watchSqlite(sqlite: SQLite.Database): WatchChanges {
  return (onChange) => {
    const version = sqlite.prepare('PRAGMA data_version').pluck();
    let seen: unknown;
    try {
      seen = version.get();
    } catch {
      seen = undefined;
    }
    return {
      isCurrent() {
        let now: unknown;
        try {
          now = version.get();
        } catch {
          return false; // closed or unreadable: let the read go to the database and fail there
        }
        if (now !== seen) {
          seen = now;
          onChange();
        }
        return true;
      },
      close: async () => {},
    };
  };
}

/** How the feed's connection shows in pg_stat_activity. */
export const FEED_APPLICATION_NAME = 'gatehouse-change-feed';
const RETRY_MIN_MS = 250;
const RETRY_MAX_MS = 10_000;

/**
 * PostgreSQL: a dedicated connection LISTENs on the channel that triggers on the credential
 * tables notify after every committed change, from any writer. While that connection is down
 * the cache is bypassed (every request reads the database) and it reconnects with back-off;
 * once listening again, everything cached before is dropped.
 */
export function watchPostgres(url: string): WatchChanges {
  return (onChange, log) => {
    let listening = false;
    let closed = false;
    let client: pg.Client | null = null;
    let retryMs = RETRY_MIN_MS;
    let timer: NodeJS.Timeout | null = null;
    let reportedDown = false;

    const lost = (err?: unknown) => {
      if (closed) return;
      listening = false;
      onChange();
      client?.removeAllListeners();
      client?.end().catch(() => {});
      client = null;
      if (!reportedDown) {
        reportedDown = true;
        log.warn(
          { err: err instanceof Error ? err.message : undefined },
          'lost the PostgreSQL change feed; credentials are read from the database until it is back',
        );
      }
      if (timer === null) {
        timer = setTimeout(() => {
          timer = null;
          void connect();
        }, retryMs);
        timer.unref();
        retryMs = Math.min(RETRY_MAX_MS, retryMs * 2);
      }
    };

    const connect = async () => {
      if (closed) return;
      const next = new pg.Client({
        connectionString: url,
        keepAlive: true,
        connectionTimeoutMillis: 5000,
        application_name: FEED_APPLICATION_NAME,
      });
      client = next;
      next.on('error', lost);
      next.on('end', () => lost());
      next.on('notification', () => onChange());
      try {
        await next.connect();
        await next.query(`LISTEN ${CREDENTIALS_CHANNEL}`);
      } catch (err) {
        if (client === next) lost(err);
        return;
      }
      if (closed || client !== next) return;
      // Anything cached before LISTEN took effect may have missed a notification.
      onChange();
      listening = true;
      retryMs = RETRY_MIN_MS;
      if (reportedDown) {
        reportedDown = false;
        log.info({}, 'the PostgreSQL change feed is back; caching credentials again');
      }
    };

    void connect();
    return {
      isCurrent: () => listening,
      async close() {
        closed = true;
        listening = false;
        if (timer !== null) clearTimeout(timer);
        const c = client;
        client = null;
        c?.removeAllListeners();
        c?.on('error', () => {});
        await c?.end().catch(() => {});
      },
    };
  };
}
