-- The database queue's dead-letter sweep (core/jobs/store/claim-next.ts, run with every claim)
-- looks for live messages received too often. It used to walk every visible message through
-- (dead_lettered_at, visible_at, id), and deleted messages with them until they were vacuumed: a
-- cost that grew with the queue's length and churn. This index holds the receive counts of live
-- messages, so the sweep reads only those at or past the limit (almost always none).
CREATE INDEX "queue_messages_receive_count_idx" ON "queue_messages"("receive_count")
WHERE "dead_lettered_at" IS NULL;
