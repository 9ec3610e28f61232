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
   * Whether a cached credential may be served now: false while changes could go unseen (e.g.
   * while disconnected). A feed that polls (SQLite) reports any change it finds through
   * `onChange` before answering.
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
 * the CLI) commits. Reading it takes a shared-memory lock (about 2.5 µs, more under load), so it
 * is read once per turn of the event loop rather than once per request: a commit by another
 * process is seen from the next turn, normally within a millisecond. A request read in the same
 * turn as the commit is answered as if it had arrived just before it, as on PostgreSQL within a
 * notification's delay. This process's own writes go through the services, which empty the
 * cache themselves.
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
    let checkedThisTurn = false;
    const nextTurn = () => {
      checkedThisTurn = false;
    };
    return {
      isCurrent() {
        if (checkedThisTurn) return true;
        let now: unknown;
        try {
          now = version.get();
        } catch {
          return false; // closed or unreadable: let the read go to the database and fail there
        }
        checkedThisTurn = true;
        setImmediate(nextTurn);
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
/** How often the feed proves it still works: it notifies itself and must hear it back. */
export const HEARTBEAT_MS = 2_000;
const HEARTBEAT_PREFIX = 'heartbeat:';

/**
 * PostgreSQL: a dedicated connection LISTENs on the channel that triggers on the credential
 * tables notify after every committed change, from any writer. While that connection is down
 * the cache is bypassed (every request reads the database) and it reconnects with back-off;
 * once listening again, everything cached before is dropped.
 *
 * A connection can also break without saying so (a half-open TCP connection, a proxy that
 * drops idle connections, a pooler that does not carry LISTEN). So every HEARTBEAT_MS the feed
 * sends itself a notification; one not heard back by the next beat counts as a lost feed.
 */
export function watchPostgres(url: string): WatchChanges {
  return (onChange, log) => {
    let listening = false;
    let closed = false;
    let client: pg.Client | null = null;
    let retryMs = RETRY_MIN_MS;
    let retry: NodeJS.Timeout | null = null;
    let beat: NodeJS.Timeout | null = null;
    let awaiting: string | null = null;
    let beats = 0;
    let reportedDown = false;
    const nodeId = Math.random().toString(36).slice(2, 10);

    /** Ends a client without letting a late socket error escape as an uncaught 'error' event. */
    const discard = (c: pg.Client | null) => {
      if (c === null) return;
      c.removeAllListeners();
      c.on('error', () => {});
      c.end().catch(() => {});
    };

    const lost = (err?: unknown) => {
      if (closed) return;
      listening = false;
      onChange();
      if (beat !== null) clearInterval(beat);
      beat = null;
      awaiting = null;
      discard(client);
      client = null;
      if (!reportedDown) {
        reportedDown = true;
        log.warn(
          { err: err instanceof Error ? err.message : undefined },
          'lost the PostgreSQL change feed; credentials are read from the database until it is back',
        );
      }
      if (retry === null) {
        retry = setTimeout(() => {
          retry = null;
          void connect();
        }, retryMs);
        retry.unref();
        retryMs = Math.min(RETRY_MAX_MS, retryMs * 2);
      }
    };

    const heartbeat = (c: pg.Client) => {
      if (awaiting !== null) {
        lost(new Error(`no heartbeat back within ${HEARTBEAT_MS} ms`));
        return;
      }
      awaiting = `${HEARTBEAT_PREFIX}${nodeId}:${beats++}`;
      c.query('SELECT pg_notify($1, $2)', [CREDENTIALS_CHANNEL, awaiting]).catch((err: unknown) => {
        if (client === c) lost(err);
      });
    };

    const connect = async () => {
      if (closed) return;
      const next = new pg.Client({
        connectionString: url,
        keepAlive: true,
        keepAliveInitialDelayMillis: 10_000,
        connectionTimeoutMillis: 5000,
        application_name: FEED_APPLICATION_NAME,
      });
      client = next;
      next.on('error', lost);
      next.on('end', () => lost());
      next.on('notification', ({ payload }) => {
        if (payload === awaiting) awaiting = null;
        else if (!payload?.startsWith(HEARTBEAT_PREFIX)) onChange(); // other nodes' heartbeats change nothing
      });
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
      beat = setInterval(() => heartbeat(next), HEARTBEAT_MS);
      beat.unref();
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
        if (retry !== null) clearTimeout(retry);
        if (beat !== null) clearInterval(beat);
        const c = client;
        client = null;
        if (c === null) return;
        c.removeAllListeners();
        c.on('error', () => {});
        // A connection that went silent never confirms its end: do not wait for it forever.
        let waited: NodeJS.Timeout | undefined;
        await Promise.race([
          c.end().catch(() => {}),
          new Promise((resolve) => {
            waited = setTimeout(resolve, 2000);
            waited.unref();
          }),
        ]);
        clearTimeout(waited);
      },
    };
  };
}
