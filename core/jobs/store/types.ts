import type { Prisma } from '../../db/database.js';

/** A Prisma interactive transaction. */
export type Tx = Parameters<Parameters<Prisma['$transaction']>[0]>[0];

/**
 * What a transition needs to run: the client or a transaction (both have these two methods), so
 * every transition can run alone or inside a caller's transaction.
 */
export type Db = Pick<Tx, '$executeRaw' | '$queryRaw'>;

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
