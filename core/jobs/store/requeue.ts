import type { Db, Lease } from './types.js';

/**
 * Puts a RUNNING job back in line (PENDING), lease cleared. `error` records why (a retryable
 * failure); `uncount` gives the attempt back (it was interrupted, not failed: a worker stopping).
 * The caller queues the job again (a retry's delayed message, in the same transaction) or leaves
 * its delivery to come back. Guarded by the lease.
 */
export async function requeueJob(
  db: Db,
  lease: Lease,
  opts: { error?: string; uncount?: boolean } = {},
): Promise<boolean> {
  const n = await db.$executeRaw`
    UPDATE jobs SET status = 'PENDING',
      error = CASE WHEN ${opts.error !== undefined} THEN ${opts.error ?? null} ELSE error END,
      attempts = CASE WHEN ${opts.uncount === true} THEN greatest(attempts - 1, 0) ELSE attempts END,
      lease_token = NULL, lease_expires_at = NULL, updated_at = now()
    WHERE id = ${lease.jobId}::uuid AND lease_token = ${lease.token}::uuid AND status = 'RUNNING'`;
  return n > 0;
}
