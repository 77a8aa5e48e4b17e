-- AlterTable: when a job was given up on (attempts used up) and its message dead-lettered.
-- `jobs dlq list` reads these rows; `jobs dlq redrive` clears the mark and queues them again.
ALTER TABLE "jobs" ADD COLUMN "dead_lettered_at" TIMESTAMPTZ(3);

-- CreateIndex
CREATE INDEX "jobs_dead_lettered_at_idx" ON "jobs"("dead_lettered_at");
