-- Job outputs: the named files a handler writes (`ctx.outputs.create`), stored in the blob store.
-- One JSON array on the job, so every query that reads a job reads its outputs with no join.
-- Entries: {name, key, contentType, token} while being written; plus {size, sha256} once stored
-- (only those are listed: core/jobs/outputs.ts).
ALTER TABLE "jobs" ADD COLUMN "outputs" JSONB NOT NULL DEFAULT '[]';
