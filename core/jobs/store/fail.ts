import { jsonText, type Db, type Lease } from './types.js';

/**
 * The attempt failed for good (the handler's error, bad params, no handler): FAILED with the
 * error and the handler's data as `result`. No retry. Guarded by the lease.
 */
export async function failJob(
  db: Db,
  lease: Lease,
  out: { error: string; result?: unknown },
): Promise<boolean> {
  const n = await db.$executeRaw`
    UPDATE jobs SET status = 'FAILED', error = ${out.error}, result = ${jsonText(out.result)}::jsonb,
      finished_at = now(), lease_token = NULL, lease_expires_at = NULL, updated_at = now()
    WHERE id = ${lease.jobId}::uuid AND lease_token = ${lease.token}::uuid AND status = 'RUNNING'`;
  return n > 0;
}
