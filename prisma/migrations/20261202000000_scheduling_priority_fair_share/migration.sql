-- Priorities, fair sharing between owners and concurrency limits (issue 15).
--
-- A job's priority (higher first; -100..100, default 0). Bounded so it stays an ordinal a person
-- picks ("urgent", "background") rather than an arms race of ever larger numbers.
ALTER TABLE "jobs" ADD COLUMN "priority" INTEGER NOT NULL DEFAULT 0;
ALTER TABLE "jobs" ADD CONSTRAINT "jobs_priority_check" CHECK ("priority" BETWEEN -100 AND 100);

-- The database queue's claim (core/jobs/store/claim-next.ts) picks messages round the owners,
-- higher priority first, within limits per type and per owner. It needs each message's owner, job
-- type and priority without reading the jobs table for every waiting message, so they are copied
-- onto the message when it is sent (they never change while it waits).
-- A message inserted without them (only by hand) falls under the nil owner and the empty type.
ALTER TABLE "queue_messages" ADD COLUMN "owner_id" UUID NOT NULL DEFAULT '00000000-0000-0000-0000-000000000000';
ALTER TABLE "queue_messages" ADD COLUMN "job_type" TEXT NOT NULL DEFAULT '';
ALTER TABLE "queue_messages" ADD COLUMN "priority" INTEGER NOT NULL DEFAULT 0;
UPDATE "queue_messages" m SET "owner_id" = j."owner_id", "job_type" = j."type", "priority" = j."priority"
FROM "jobs" j WHERE j."id" = m."job_id";

-- The claim's scan: the distinct (owner, type, priority) keys of live messages (a skip scan, one
-- descent per key), then each key's visible messages oldest first (a range scan that stops at the
-- first one still hidden). Dead letters are not in it.
CREATE INDEX "queue_messages_owner_id_job_type_priority_visible_at_id_idx"
ON "queue_messages"("owner_id", "job_type", "priority", "visible_at", "id")
WHERE "dead_lettered_at" IS NULL;
