import type { Database, Prisma } from '../../db/database.js';
import type { SqlStatement } from '../../db/sql.js';

/** A Prisma interactive transaction. */
export type Tx = Parameters<Parameters<Prisma['$transaction']>[0]>[0];

/**
 * What a transition needs to run: the client or a transaction (both have these two methods), so
 * every transition can run alone or inside a caller's transaction.
 */
export type Db = Pick<Tx, '$executeRaw' | '$queryRaw'>;

/**
 * What a hot-path transition runs on: one statement (core/db/sql.ts) on the raw driver, without
 * Prisma's client (`Database.query`), or inside a caller's Prisma transaction (`inTransaction`).
 * Rows come as the driver gives them: read int8 columns with `toBigInt`/`Number`.
 */
export type Sql = Pick<Database, 'query'>;

/** A Prisma transaction as a `Sql`: the statement runs in it. */
export function inTransaction(tx: Pick<Tx, '$queryRawUnsafe'>): Sql {
  return { query: <R>(s: SqlStatement) => tx.$queryRawUnsafe<R[]>(s.text, ...s.values) };
}

/** An int8 column as a bigint, whichever driver read it (a string, a number or a bigint). */
export function toBigInt(v: string | number | bigint | null): bigint | null {
  return v === null ? null : BigInt(v);
}

/**
 * The claim of one attempt: the job and the token its claim wrote. Every write an attempt makes is
 * guarded by `token`, so a stale attempt (its lease expired and the job was claimed again, or it
 * was cancelled or given up on) can never overwrite a newer state.
 */
export interface Lease {
  readonly jobId: string;
  readonly token: string;
  /**
   * The receipt of the delivery the attempt came with. With a queue in the job database, the
   * attempt's end acknowledges it in the same transaction (JobStore.acknowledgesWithOutcome).
   */
  readonly receipt?: string;
}

export type LogLevel = 'info' | 'warn' | 'error';

/** One job log line as written to `job_logs`. */
export interface LogLine {
  level: LogLevel;
  message: string;
  ts: Date;
  /** The line's data as JSON text (jsonb in the table), if any. */
  data?: string;
}

/** A log line of the platform itself (no data), stamped now. */
export function line(level: LogLevel, message: string): LogLine {
  return { level, message, ts: new Date() };
}

/** JSON text for a jsonb column (bigints as numbers); null for null/undefined. */
export function jsonText(value: unknown): string | null {
  if (value === undefined || value === null) return null;
  return JSON.stringify(value, (_k, v) => (typeof v === 'bigint' ? Number(v) : v)) ?? null;
}
