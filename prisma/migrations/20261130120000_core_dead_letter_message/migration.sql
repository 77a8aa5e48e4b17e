-- AlterTable: the one queue message a given-up job sends to the dead letters. A job can have two
-- messages in flight (the reaper requeued it while its old message was still hidden); whichever
-- path gives up, only the message recorded here is moved, so the dead letters hold one copy per
-- job (core/jobs/store/dead-letter-move.ts).
ALTER TABLE "jobs" ADD COLUMN "dead_letter_message_id" TEXT;
