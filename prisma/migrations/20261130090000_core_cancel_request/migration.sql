-- AlterTable: cancelling a RUNNING job is a request. The API records it here; the processor that
-- holds the job sees it at its next heartbeat, aborts the handler's signal and writes CANCELLED
-- with the handler's last log lines (core/jobs/store/cancel.ts).
ALTER TABLE "jobs" ADD COLUMN "cancel_requested_at" TIMESTAMPTZ(3);
