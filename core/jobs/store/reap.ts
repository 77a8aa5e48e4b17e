import type { Db, Lease } from './types.js';

/** A RUNNING job whose lease expired long ago, locked for the reaper's transaction. */
export interface ExpiredJob {
  lease: Lease;
  attempts: number;
  maxAttempts: number;
  cancelRequested: boolean;
}

/**
 * Up to `limit` RUNNING jobs whose lease expired more than `graceSeconds` ago, oldest first,
 * locked FOR UPDATE SKIP LOCKED: any number of reapers can sweep at once, each job handled by
 * one. Each comes with its current lease, so what the reaper writes is guarded like any attempt's
 * write.
 */
export async function lockExpired(db: Db, graceSeconds: number, limit: number): Promise<ExpiredJob[]> {
  const rows = await db.$queryRaw<
    { id: string; token: string; attempts: number; max_attempts: number; cancel_requested: boolean }[]
  >`
    SELECT id, lease_token::text AS token, attempts, max_attempts,
      cancel_requested_at IS NOT NULL AS cancel_requested
    FROM jobs
    WHERE status = 'RUNNING' AND lease_token IS NOT NULL
      AND lease_expires_at < now() - make_interval(secs => ${graceSeconds}::float8)
    ORDER BY lease_expires_at
    LIMIT ${limit}
    FOR UPDATE SKIP LOCKED`;
  return rows.map((r) => ({
    lease: { jobId: r.id, token: r.token },
    attempts: r.attempts,
    maxAttempts: r.max_attempts,
    cancelRequested: r.cancel_requested,
  }));
}
