-- Live updates (SSE, metrics): every change of a job's status, progress or attempts is announced on
-- the `jobs_live` channel, in the transaction that makes it, whoever writes it (API, embedded
-- worker, `jobs worker`, the Lambda). The payload is small (NOTIFY allows 8000 bytes): the id and
-- what a listener needs to filter without a read; listeners read the row itself.
-- Log batches are announced by processor/job-log-writer.ts on the same channel ({"k":"log"}).
CREATE FUNCTION "jobs_notify_live"() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'INSERT'
     OR NEW."status" IS DISTINCT FROM OLD."status"
     OR NEW."progress_done" IS DISTINCT FROM OLD."progress_done"
     OR NEW."progress_total" IS DISTINCT FROM OLD."progress_total"
     OR NEW."attempts" IS DISTINCT FROM OLD."attempts" THEN
    PERFORM pg_notify('jobs_live', json_build_object(
      'k', 'job',
      'id', NEW."id",
      'owner', NEW."owner_id",
      'type', left(NEW."type", 200),
      'status', NEW."status",
      -- Set once, when the job reaches an end state: feeds the duration histogram.
      'secs', CASE
        WHEN NEW."status" IN ('COMPLETED', 'FAILED', 'CANCELLED')
             AND NEW."status" IS DISTINCT FROM (CASE WHEN TG_OP = 'UPDATE' THEN OLD."status" END)
             AND NEW."started_at" IS NOT NULL AND NEW."finished_at" IS NOT NULL
        THEN extract(epoch FROM NEW."finished_at" - NEW."started_at")
      END
    )::text);
  END IF;
  RETURN NULL;
END
$$;

CREATE TRIGGER "jobs_notify_live" AFTER INSERT OR UPDATE ON "jobs"
FOR EACH ROW EXECUTE FUNCTION "jobs_notify_live"();
