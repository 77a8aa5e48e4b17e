import type { Db } from './types.js';

/**
 * Records that the SQS outbox relay sent these jobs' messages (core/queue/outbox.ts, fair sharing):
 * each PENDING one then counts in its owner's window of messages sent and not yet started until
 * it is claimed. Run in the relay's transaction, after the publish (a crash before commit sends
 * the message again, and the row stays in the outbox: nothing counts it twice).
 */
export async function markDispatched(db: Db, jobIds: readonly string[]): Promise<void> {
  if (jobIds.length === 0) return;
  await db.$executeRaw`
    UPDATE jobs SET dispatched_at = now()
    WHERE id = ANY(string_to_array(${jobIds.join(',')}, ',')::uuid[]) AND status = 'PENDING'`;
}
