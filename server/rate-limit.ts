import type { RequestHandler } from 'express';
import { ipKeyGenerator, MemoryStore, rateLimit, type Store } from 'express-rate-limit';
import type { Logger } from 'pino';
import type { Principal } from '../core/auth/principal.js';
import type { Database } from '../core/db/database.js';
import { RateLimitedError } from '../core/errors.js';
import { DbRateLimitStore } from './db-rate-limit-store.js';

export interface RequestRateLimit {
  /** Requests per key per window (JOBS_RATE_LIMIT_PER_MINUTE); 0 turns the limit off. */
  limit: number;
  /** The window (default one minute). */
  windowMs?: number;
  /**
   * Where hits are counted: a DbRateLimitStore shared by every API host (PostgreSQL), or this
   * process's memory (the embedded server, the only host of its database). Default: memory.
   */
  store?: Store;
  logger?: Pick<Logger, 'error' | 'warn'>;
}

/**
 * The API's per-client request rate limit (express-rate-limit, fixed windows). A request with a
 * token counts against the token (keyed by its id, after authentication); a request without one
 * (the directory store's signed part uploads, and requests answered 401 for having none) against
 * its IP address. Over the limit: 429 `rate_limited` with Retry-After (seconds to the window's
 * end) and the draft-7 `RateLimit`/`RateLimit-Policy` headers, which every answer carries.
 *
 * The one middleware is mounted twice: on /api before authentication, where it counts only
 * requests that carry no Authorization header, and after authentication, where it counts the
 * rest by token. Each request is counted once.
 *
 * @example
 * const limit = requestRateLimit({ limit: 600, store: new DbRateLimitStore(prisma) });
 * app.use('/api', limit);                 // requests without a token, by IP
 * app.use('/api', authenticate(auth), limit); // the rest, by token
 */
export function requestRateLimit(opts: RequestRateLimit): RequestHandler {
  if (opts.limit <= 0) return (_req, _res, next) => next();
  const windowMs = opts.windowMs ?? 60_000;
  const per = windowMs === 60_000 ? 'a minute' : `per ${windowMs / 1000} s`;
  return rateLimit({
    windowMs,
    limit: opts.limit,
    store: opts.store ?? new MemoryStore(),
    standardHeaders: 'draft-7',
    legacyHeaders: false,
    // Counted before authentication only when there is no token to count by afterwards.
    skip: (req, res) => !principal(res) && req.headers.authorization !== undefined,
    keyGenerator: (req, res) => {
      const p = principal(res);
      return p ? `token:${p.tokenId}` : `ip:${ipKeyGenerator(req.ip ?? 'unknown')}`;
    },
    handler: (req, _res, next, options) => {
      const reset = (req as { rateLimit?: { resetTime?: Date } }).rateLimit?.resetTime;
      const seconds = reset ? Math.max(1, Math.ceil((reset.getTime() - Date.now()) / 1000)) : windowMs / 1000;
      next(
        new RateLimitedError(
          `rate limit exceeded: at most ${options.limit as number} requests ${per} per token ` +
            `(JOBS_RATE_LIMIT_PER_MINUTE); retry after ${seconds} s`,
          seconds,
          { limit: options.limit, windowSeconds: windowMs / 1000, retryAfterSeconds: seconds },
        ),
      );
    },
    // The database unreachable: let the request through (it will meet the same outage and answer
    // 503), rather than turn every request into an error here.
    passOnStoreError: true,
    // Store errors and express-rate-limit's configuration checks, to the app's log.
    ...(opts.logger ? { logger: toLimiterLogger(opts.logger) } : {}),
  });
}

/**
 * The API's rate limit from its settings (none when `limits` is absent): counted in the database
 * when `sharedCounts` (default: on PostgreSQL, where several API hosts may serve one database),
 * else in this process's memory (the embedded server).
 */
export function apiRateLimit(
  db: Database,
  limits: { requestsPerMinute: number; sharedCounts?: boolean } | undefined,
  logger?: Pick<Logger, 'error' | 'warn'>,
): RequestHandler {
  const limit = limits?.requestsPerMinute ?? 0;
  const shared = limits?.sharedCounts ?? db.kind === 'postgres';
  return requestRateLimit({
    limit,
    store: limit > 0 && shared ? new DbRateLimitStore(db.prisma) : undefined,
    logger,
  });
}

function toLimiterLogger(logger: Pick<Logger, 'error' | 'warn'>) {
  return {
    error: (err: unknown, message?: string) => logger.error({ err }, message ?? 'rate limit'),
    warn: (err: unknown, message?: string) => logger.warn({ err }, message ?? 'rate limit'),
  };
}

function principal(res: { locals: Record<string, unknown> }): Principal | undefined {
  return res.locals.principal as Principal | undefined;
}
