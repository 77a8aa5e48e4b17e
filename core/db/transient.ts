import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from 'pino';
import { DatabaseUnavailableError } from '../errors.js';

/*
 * Connection trouble that goes away by itself: PostgreSQL restarting or failing over, a backend
 * terminated (pg_terminate_backend, idle timeouts), a network blip. Retrying such an error with
 * backoff is safe for our writes: each one is guarded (lease token, status) or idempotent.
 */

/** SQLSTATEs of a connection that was lost or cannot be made yet (class 08, 57P01–57P03). */
const TRANSIENT_SQLSTATES = new Set([
  '57P01', // admin_shutdown: the server is stopping, or pg_terminate_backend
  '57P02', // crash_shutdown
  '57P03', // cannot_connect_now: the server is starting up or in recovery
  '08000',
  '08001',
  '08003',
  '08004',
  '08006',
  '53300', // too_many_connections: during a restart, clients reconnect all at once
]);
const TRANSIENT_ERRNOS = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'EPIPE',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
]);
/** Prisma's driver-adapter error kinds (and client codes) for the same conditions. */
const TRANSIENT_KINDS = new Set([
  'DatabaseNotReachable',
  'ConnectionClosed',
  'SocketTimeout',
  'TooManyConnections',
]);
const TRANSIENT_PRISMA_CODES = new Set(['P1001', 'P1002', 'P1008', 'P1017', 'P2024']);
/**
 * node-postgres reports a dropped socket with a plain Error and one of these messages; Prisma's
 * last one means every pooled connection stayed busy (or unobtainable) for its maxWait.
 */
const TRANSIENT_MESSAGE =
  /Connection terminated|terminating connection|Client has encountered a connection error|Connection is closed|the database system is (starting up|shutting down|in recovery mode)|timeout exceeded when trying to connect|Can't reach database server|Server has closed the connection|Unable to start a transaction in the given time/i;

/**
 * Whether `err` (from pg, Prisma or its pg adapter, however nested) is a lost or refused
 * connection rather than a problem with the statement itself.
 */
export function isTransientDbError(err: unknown): boolean {
  const seen = new Set<unknown>();
  const walk = (e: unknown): boolean => {
    if (!e || typeof e !== 'object' || seen.has(e)) return false;
    seen.add(e);
    const o = e as Record<string, unknown>;
    if (e instanceof DatabaseUnavailableError) return true;
    for (const key of ['code', 'originalCode', 'sqlState']) {
      const v = o[key];
      if (
        typeof v === 'string' &&
        (TRANSIENT_SQLSTATES.has(v) || TRANSIENT_ERRNOS.has(v) || TRANSIENT_PRISMA_CODES.has(v))
      )
        return true;
    }
    if (typeof o.kind === 'string' && TRANSIENT_KINDS.has(o.kind)) return true;
    if (typeof o.message === 'string' && TRANSIENT_MESSAGE.test(o.message)) return true;
    const meta = o.meta as Record<string, unknown> | undefined;
    return (
      walk(o.cause) ||
      walk(meta?.driverAdapterError) ||
      walk(meta) ||
      (Array.isArray(o.errors) && o.errors.some(walk))
    );
  };
  return walk(err);
}

export interface RetryOptions {
  /** What is being retried, for the log ("writing the job's status"). */
  what: string;
  logger?: Pick<Logger, 'warn'>;
  /** Give up (rethrow the last error) once this long has passed. Default 60 s. */
  maxMs?: number;
  /** First delay; doubled per attempt up to `capMs`, each times a jitter in [0.5, 1]. */
  baseMs?: number;
  capMs?: number;
  /** Stops waiting: the last error is rethrown. */
  signal?: AbortSignal;
}

/**
 * Runs `fn`, retrying it with exponential backoff and jitter while it fails with a transient
 * connection error, for a bounded time; any other error is rethrown at once.
 */
export async function retryTransient<T>(fn: () => Promise<T>, opts: RetryOptions): Promise<T> {
  const deadline = Date.now() + (opts.maxMs ?? 60_000);
  for (let attempt = 0; ; attempt++) {
    try {
      return await fn();
    } catch (err) {
      if (!isTransientDbError(err) || opts.signal?.aborted) throw err;
      const delay = backoffMs(attempt, opts.baseMs ?? 100, opts.capMs ?? 2_000);
      if (Date.now() + delay > deadline) throw err;
      opts.logger?.warn(
        { err: firstLine(err), attempt: attempt + 1, retryInMs: delay },
        `${opts.what} failed: the database is unreachable; retrying`,
      );
      await sleep(delay, undefined, { signal: opts.signal }).catch(() => {});
    }
  }
}

/** base * 2^attempt, capped, times a jitter in [0.5, 1] so clients do not retry in lockstep. */
export function backoffMs(attempt: number, baseMs: number, capMs: number): number {
  const exp = Math.min(capMs, baseMs * 2 ** Math.min(attempt, 20));
  return Math.round(exp * (0.5 + Math.random() / 2));
}

function firstLine(err: unknown): string {
  return (err instanceof Error ? err.message : String(err)).split('\n')[0];
}
