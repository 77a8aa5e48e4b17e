import type { Db } from './types.js';

/**
 * Decides whether the queue message `messageId` of a given-up job goes to the dead letters: true
 * for the first message that asks (recorded on the job) and for that same message delivered
 * again (its move was cut short by a crash), false for any other. A job can have two messages
 * (the reaper requeued it while its old message was still hidden); without this, both would end
 * in the dead letters and the queue's dead-letter count would say two jobs for one.
 */
export async function claimDeadLetterMove(db: Db, jobId: string, messageId: string): Promise<boolean> {
  const n = await db.$executeRaw`
    UPDATE jobs SET dead_letter_message_id = ${messageId}
    WHERE id = ${jobId}::uuid AND status = 'FAILED' AND dead_lettered_at IS NOT NULL
      AND (dead_letter_message_id IS NULL OR dead_letter_message_id = ${messageId})`;
  return n > 0;
}
