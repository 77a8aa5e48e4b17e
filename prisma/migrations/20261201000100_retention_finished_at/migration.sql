-- Retention (core/jobs/store/prune.ts): finished jobs past their retention, oldest first, found
-- without scanning the table. Unfinished jobs have no finished_at and stay out of the range.
CREATE INDEX "jobs_finished_at_idx" ON "jobs"("finished_at");
