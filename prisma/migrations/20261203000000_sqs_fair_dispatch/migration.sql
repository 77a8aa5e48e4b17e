-- Fair sharing between owners on SQS (issue 15): the outbox relay keeps at most a window of an
-- owner's messages sent and not yet started (core/queue/outbox.ts), and picks the rows to send
-- round the owners, so one owner's backlog waits in the outbox rather than ahead of everyone in SQS.

-- When the relay last sent the job's message. A PENDING job sent recently and without an outbox
-- row is "sent, not yet started": it counts in its owner's window (for a while only, so a message
-- lost from SQS cannot hold a slot forever).
ALTER TABLE "jobs" ADD COLUMN "dispatched_at" TIMESTAMPTZ(3);

-- The window's count: few rows (an owner's window, plus jobs released back to SQS), by owner.
CREATE INDEX "jobs_owner_id_dispatched_at_idx" ON "jobs"("owner_id", "dispatched_at")
WHERE "status" = 'PENDING' AND "dispatched_at" IS NOT NULL;

-- Each row carries its job's owner and priority (copied when it is written; they never change),
-- so the relay ranks rows without reading every waiting job. Rows written without them (only by
-- hand) fall under the nil owner.
ALTER TABLE "job_outbox" ADD COLUMN "owner_id" UUID NOT NULL DEFAULT '00000000-0000-0000-0000-000000000000';
ALTER TABLE "job_outbox" ADD COLUMN "priority" INTEGER NOT NULL DEFAULT 0;
UPDATE "job_outbox" o SET "owner_id" = j."owner_id", "priority" = j."priority"
FROM "jobs" j WHERE j."id" = o."job_id";

-- The relay's fair scan: the distinct (owner, priority) keys (a skip scan, one descent per key),
-- then each key's due rows oldest first (a range scan that stops at the first row not yet due).
CREATE INDEX "job_outbox_owner_id_priority_next_attempt_at_id_idx"
ON "job_outbox"("owner_id", "priority", "next_attempt_at", "id");
