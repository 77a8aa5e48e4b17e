-- AlterTable
ALTER TABLE "jobs" ADD COLUMN "log_seq" INTEGER NOT NULL DEFAULT 0;

-- Backfill: continue after the lines each job already has.
UPDATE "jobs" SET "log_seq" = sub.max_seq
FROM (SELECT "job_id", max("seq") AS max_seq FROM "job_logs" GROUP BY "job_id") AS sub
WHERE "jobs"."id" = sub."job_id";
