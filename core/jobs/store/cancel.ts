import type { Job } from '../../db/generated/client.js';
import type { Db, Lease } from './types.js';

/** What asking to cancel did. */
export type CancelRequest =
  /** Ended at once: it was PENDING, or RUNNING under an expired lease (its worker is gone). */
  | { kind: 'cancelled'; wasRunning: boolean }
  /** RUNNING under a live lease: the request is recorded; its processor ends it. */
  | { kind: 'requested' }
  /** Not PENDING or RUNNING (or missing): nothing to cancel. */
  | { kind: 'not-cancellable' };

/**
 * Asks to cancel a job. A PENDING job (or a RUNNING one whose lease expired: nobody runs it) is
 * CANCELLED at once; its message, when delivered, finds it finished. A RUNNING job under a live
 * lease gets `cancel_requested_at`: its processor sees it at its next heartbeat, aborts the
 * handler's signal and writes CANCELLED with the handler's last lines (`cancelAttempt`). A job
 * ended here with a webhook gets its delivery in the same statement.
 */
export async function requestCancel(db: Db, jobId: string): Promise<CancelRequest> {
  const [row] = await db.$queryRaw<{ status: Job['status']; was_running: boolean }[]>`
    WITH prev AS (
      SELECT id, status FROM jobs WHERE id = ${jobId}::uuid FOR UPDATE
    ), ended AS (
      UPDATE jobs SET
        status = CASE WHEN jobs.status = 'PENDING' OR jobs.lease_expires_at < now()
                 THEN 'CANCELLED'::"JobStatus" ELSE jobs.status END,
        finished_at = CASE WHEN jobs.status = 'PENDING' OR jobs.lease_expires_at < now()
                      THEN now() ELSE jobs.finished_at END,
        lease_token = CASE WHEN jobs.status = 'PENDING' OR jobs.lease_expires_at < now()
                      THEN NULL ELSE jobs.lease_token END,
        lease_expires_at = CASE WHEN jobs.status = 'PENDING' OR jobs.lease_expires_at < now()
                           THEN NULL ELSE jobs.lease_expires_at END,
        cancel_requested_at = coalesce(jobs.cancel_requested_at, now()),
        updated_at = now()
      FROM prev
      WHERE jobs.id = prev.id AND jobs.status IN ('PENDING', 'RUNNING')
      RETURNING jobs.id, jobs.status, jobs.webhook_url, prev.status = 'RUNNING' AS was_running
    ), hooked AS (
      -- Ended here: its webhook delivery, with the end (core/webhooks/).
      INSERT INTO webhook_deliveries (id, job_id, event, url)
      SELECT gen_random_uuid(), id, 'job.cancelled', webhook_url FROM ended
      WHERE status = 'CANCELLED' AND webhook_url IS NOT NULL
    )
    SELECT status, was_running FROM ended`;
  if (!row) return { kind: 'not-cancellable' };
  return row.status === 'CANCELLED'
    ? { kind: 'cancelled', wasRunning: row.was_running }
    : { kind: 'requested' };
}

/**
 * The processor's answer to a cancel request: the attempt stopped, CANCELLED (with its webhook
 * delivery, when it has a webhook). Guarded by the lease.
 */
export async function cancelAttempt(db: Db, lease: Lease): Promise<boolean> {
  const rows = await db.$queryRaw<unknown[]>`
    WITH ended AS (
      UPDATE jobs SET status = 'CANCELLED', finished_at = now(), lease_token = NULL,
        lease_expires_at = NULL, updated_at = now()
      WHERE id = ${lease.jobId}::uuid AND lease_token = ${lease.token}::uuid AND status = 'RUNNING'
      RETURNING id, webhook_url
    ), hooked AS (
      INSERT INTO webhook_deliveries (id, job_id, event, url)
      SELECT gen_random_uuid(), id, 'job.cancelled', webhook_url FROM ended WHERE webhook_url IS NOT NULL
    )
    SELECT 1 FROM ended`;
  return rows.length > 0;
}
