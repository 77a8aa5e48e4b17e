import { jsonText, type Db, type Lease } from './types.js';

/**
 * The attempt failed for good (the handler's error, bad params, no handler): FAILED with the
 * error and the handler's data as `result`, and its webhook delivery when it has a webhook. No
 * retry. Guarded by the lease.
 */
export async function failJob(
  db: Db,
  lease: Lease,
  out: { error: string; result?: unknown },
): Promise<boolean> {
  const rows = await db.$queryRaw<unknown[]>`
    WITH ended AS (
      UPDATE jobs SET status = 'FAILED', error = ${out.error}, result = ${jsonText(out.result)}::jsonb,
        finished_at = now(), lease_token = NULL, lease_expires_at = NULL, updated_at = now()
      WHERE id = ${lease.jobId}::uuid AND lease_token = ${lease.token}::uuid AND status = 'RUNNING'
      RETURNING id, webhook_url
    ), hooked AS (
      INSERT INTO webhook_deliveries (id, job_id, event, url)
      SELECT gen_random_uuid(), id, 'job.failed', webhook_url FROM ended WHERE webhook_url IS NOT NULL
    )
    SELECT 1 FROM ended`;
  return rows.length > 0;
}
