import type { Db, Lease } from './types.js';

/** The error (and log line) of a job whose every attempt died with its worker or hung. */
export function gaveUpReason(attempts: number): string {
  return `gave up after ${attempts} attempt${attempts === 1 ? '' : 's'}: the worker stopped (crashed or was killed) during each of them`;
}

/**
 * Gives up on a job: its attempts are used up (each died with its worker, hung, or failed
 * retryably). FAILED with `reason`, and marked dead-lettered (`jobs dlq`). Whoever gives up (the
 * processor's claim, its retry logic, or the reaper), this is the one write; the job's queue
 * message then goes to the dead letters: at once when the caller holds it, otherwise on its next
 * delivery (processor/run-job.ts, `duplicate`). `attempts` corrects the count when the claim that
 * found the job counted an attempt that will not run. `messageId` is the message the caller holds
 * and moves (none when the reaper gives up): the one the job's dead letters get
 * (./dead-letter-move.ts). A job with a webhook gets its delivery (`job.dead_lettered`) in the same
 * statement. Guarded by the lease.
 */
export async function giveUpJob(
  db: Db,
  lease: Lease,
  out: { reason: string; attempts?: number; messageId?: string },
): Promise<boolean> {
  const rows = await db.$queryRaw<unknown[]>`
    WITH ended AS (
      UPDATE jobs SET status = 'FAILED', error = ${out.reason},
        attempts = coalesce(${out.attempts ?? null}::int, attempts),
        finished_at = now(), dead_lettered_at = now(), dead_letter_message_id = ${out.messageId ?? null},
        lease_token = NULL, lease_expires_at = NULL,
        updated_at = now()
      WHERE id = ${lease.jobId}::uuid AND lease_token = ${lease.token}::uuid AND status = 'RUNNING'
      RETURNING id, webhook_url
    ), hooked AS (
      -- Its webhook delivery, with the end (core/webhooks/).
      INSERT INTO webhook_deliveries (id, job_id, event, url)
      SELECT gen_random_uuid(), id, 'job.dead_lettered', webhook_url FROM ended
      WHERE webhook_url IS NOT NULL
    )
    SELECT 1 FROM ended`;
  return rows.length > 0;
}
