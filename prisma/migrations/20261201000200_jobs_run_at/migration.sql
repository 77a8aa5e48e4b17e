-- Delayed jobs: when a job may start (`delay` or `runAt` at submit); null for "as soon as possible".
-- The queue holds its message until then (queue_messages.visible_at; SQS: the outbox).
ALTER TABLE "jobs" ADD COLUMN "run_at" TIMESTAMPTZ(3);
