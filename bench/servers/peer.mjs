// The peer: GET /core/users/me the way most Node teams would build it — Express, passport with
// passport-http-bearer, express-rate-limit — reading Gatehouse's own SQLite tables. A benchmark
// yardstick only; never part of the product.
import { createHash } from 'node:crypto';
import SQLite from 'better-sqlite3';
import express from 'express';
import { rateLimit } from 'express-rate-limit';
import passport from 'passport';
import { Strategy as BearerStrategy } from 'passport-http-bearer';

const file = process.env.PEER_SQLITE_FILE;
if (file === undefined) throw new Error('PEER_SQLITE_FILE is required');
const db = new SQLite(file, { fileMustExist: true });
db.pragma('journal_mode = WAL');
db.pragma('busy_timeout = 5000');

const findByTokenHash = db.prepare(
  `select u.id, u.email, u.first_name, u.last_name, u.roles, u.created_at, u.updated_at, u.archived_at,
          u.rate_limit_per_minute
     from user_app_tokens t join users u on u.id = t.user_id
    where t.token_hash = ?`,
);

/** @typedef {{ id: string, email: string, first_name: string, last_name: string, roles: string, created_at: string, updated_at: string, archived_at: string | null, rate_limit_per_minute: number | null }} UserRow */

passport.use(
  new BearerStrategy((token, done) => {
    try {
      const hash = createHash('sha256').update(token).digest('hex');
      const user = /** @type {UserRow | undefined} */ (findByTokenHash.get(hash));
      if (user === undefined || user.archived_at !== null) return done(null, false);
      return done(null, user);
    } catch (err) {
      return done(err);
    }
  }),
);

const app = express();
app.disable('x-powered-by');
app.use(passport.initialize());

const requireDeveloper = (
  /** @type {express.Request} */ req,
  /** @type {express.Response} */ res,
  /** @type {express.NextFunction} */ next,
) => {
  const user = /** @type {UserRow} */ (req.user);
  if (!JSON.parse(user.roles).includes('developer')) {
    res.status(403).json({ errors: [{ status: '403', code: 'insufficient_scope' }] });
    return;
  }
  next();
};

const limiter = rateLimit({
  windowMs: 60_000,
  limit: Number(process.env.PEER_RATE_LIMIT ?? 100_000),
  standardHeaders: 'draft-8',
  legacyHeaders: true,
  keyGenerator: (req) => /** @type {UserRow} */ (req.user).id,
});

app.get(
  '/core/users/me',
  passport.authenticate('bearer', { session: false }),
  limiter,
  requireDeveloper,
  (req, res) => {
    const { id, roles, ...rest } = /** @type {UserRow} */ (req.user);
    res.type('application/vnd.api+json').json({
      data: {
        type: 'user',
        id,
        attributes: { ...rest, roles: JSON.parse(roles) },
        links: { self: `/core/users/${id}` },
      },
    });
  },
);

const server = app.listen(Number(process.env.PORT), '127.0.0.1');
process.once('SIGTERM', () => {
  server.close();
  db.close();
});
