import type { Progress } from './progress.js';
import { jsonText, type Db, type Lease } from './types.js';

/**
 * The attempt succeeded: COMPLETED with its result (and its last progress, if not written yet).
 * Guarded by the lease: false when the attempt no longer holds the job.
 */
export async function completeJob(
  db: Db,
  lease: Lease,
  out: { result: unknown; progress?: Progress },
): Promise<boolean> {
  const p = out.progress;
  const n = await db.$executeRaw`
    UPDATE jobs SET status = 'COMPLETED', result = ${jsonText(out.result)}::jsonb, error = NULL,
      progress_done = CASE WHEN ${p !== undefined} THEN ${p ? Math.round(p.done) : null}::bigint
                      ELSE progress_done END,
      progress_total = CASE WHEN ${p !== undefined}
                       THEN ${p && p.total !== null ? Math.round(p.total) : null}::bigint
                       ELSE progress_total END,
      finished_at = now(), lease_token = NULL, lease_expires_at = NULL, updated_at = now()
    WHERE id = ${lease.jobId}::uuid AND lease_token = ${lease.token}::uuid AND status = 'RUNNING'`;
  return n > 0;
}
