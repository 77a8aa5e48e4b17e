-- Cron schedules (`jobs schedules`, /api/schedules): each due tick of a schedule creates one job.
-- The ticker (core/schedules/schedule-ticker.ts) advances `next_run_at` with a compare-and-set in
-- the transaction that creates the tick's job, so one tick makes one job however many processes
-- tick at once; the unique index on jobs (schedule_id, schedule_tick_at) is the backstop.

-- CreateTable
CREATE TABLE "schedules" (
    "id" UUID NOT NULL,
    "owner_id" UUID NOT NULL,
    "name" TEXT,
    "cron" TEXT NOT NULL,
    "timezone" TEXT NOT NULL DEFAULT 'UTC',
    "type" TEXT NOT NULL,
    "params" JSONB NOT NULL DEFAULT '{}',
    "paused" BOOLEAN NOT NULL DEFAULT false,
    "missed" TEXT NOT NULL DEFAULT 'run-once',
    "next_run_at" TIMESTAMPTZ(3) NOT NULL,
    "last_run_at" TIMESTAMPTZ(3),
    "last_job_id" UUID,
    "last_error" TEXT,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updated_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "schedules_pkey" PRIMARY KEY ("id"),
    CONSTRAINT "schedules_missed_check" CHECK ("missed" IN ('run-once', 'skip'))
);

-- CreateIndex: the ticker's query (due, not paused, soonest first).
CREATE INDEX "schedules_paused_next_run_at_idx" ON "schedules"("paused", "next_run_at");

-- CreateIndex: a user's schedules, newest first.
CREATE INDEX "schedules_owner_id_created_at_idx" ON "schedules"("owner_id", "created_at" DESC);

-- AddForeignKey
ALTER TABLE "schedules" ADD CONSTRAINT "schedules_owner_id_fkey" FOREIGN KEY ("owner_id") REFERENCES "users"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AlterTable: the schedule (and tick) a job was created for. No foreign key: a job outlives its
-- schedule (deleting a schedule keeps the history of what it ran).
ALTER TABLE "jobs" ADD COLUMN "schedule_id" UUID;
ALTER TABLE "jobs" ADD COLUMN "schedule_tick_at" TIMESTAMPTZ(3);

-- CreateIndex: one job per schedule and tick. Partial: only scheduled jobs are in it, so a
-- submitted job's insert pays nothing for it, and creating it on a large jobs table is instant.
CREATE UNIQUE INDEX "jobs_schedule_id_schedule_tick_at_key" ON "jobs"("schedule_id", "schedule_tick_at")
WHERE "schedule_id" IS NOT NULL;

-- Wake the tickers when a schedule is created or changed by its owner (a new, earlier next run);
-- the ticks' own writes (next_run_at, last_run_at) leave updated_at alone and notify nobody.
CREATE FUNCTION "schedules_notify"() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'INSERT' OR NEW."updated_at" IS DISTINCT FROM OLD."updated_at" THEN
    PERFORM pg_notify('jobs_schedules', NEW."id"::text);
  END IF;
  RETURN NULL;
END
$$;

CREATE TRIGGER "schedules_notify" AFTER INSERT OR UPDATE ON "schedules"
FOR EACH ROW EXECUTE FUNCTION "schedules_notify"();
