import type { Db } from './types.js';

/**
 * Puts a finished job back in line with a full set of attempts: status PENDING, attempts 0,
 * error, result, progress, times, lease, cancel request and dead-letter mark cleared, outputs no
 * longer listed (they stay recorded without size and hash, so the next attempt that writes an
 * output, or retention, deletes their blobs: store/outputs.ts). Only from
 * `from` statuses (FAILED or CANCELLED for `jobs retry`; dead-lettered FAILED for a redrive).
 * The caller queues it in the same transaction. False when the job was not in such a state.
 */
export async function freshAttempts(
  db: Db,
  jobId: string,
  from: readonly ('FAILED' | 'CANCELLED')[],
): Promise<boolean> {
  const n = await db.$executeRaw`
    UPDATE jobs SET status = 'PENDING', attempts = 0, error = NULL, result = NULL,
      progress_done = NULL, progress_total = NULL, started_at = NULL, finished_at = NULL,
      lease_token = NULL, lease_expires_at = NULL, dead_lettered_at = NULL, dead_letter_message_id = NULL,
      cancel_requested_at = NULL, updated_at = now(),
      outputs = CASE WHEN outputs = '[]'::jsonb THEN outputs ELSE (
        SELECT jsonb_agg((x.e - 'size' - 'sha256') ORDER BY x.i)
        FROM jsonb_array_elements(outputs) WITH ORDINALITY x(e, i)) END
    WHERE id = ${jobId}::uuid AND status::text = ANY(${[...from]}::text[])`;
  return n > 0;
}
