import type { Job } from '../../db/generated/client.js';
import { sql } from '../../db/sql.js';
import { MAX_WAKES_PER_BATCH, QUEUE_CHANNEL } from '../../queue/db-queue.js';
import { delaySecondsOf, type JobInsert } from './create.js';
import { jsonText, toBigInt, type Db, type Sql } from './types.js';

/**
 * Frees the Idempotency-Keys among `jobs` whose holder is older than `ttlMs`, in one statement
 * (the batch twin of `releaseIdempotencyKey`).
 */
export async function releaseIdempotencyKeys(
  db: Db,
  jobs: readonly JobInsert[],
  ttlMs: number,
): Promise<void> {
  const keyed = jobs.filter((j) => j.idempotencyKey !== null);
  if (keyed.length === 0) return;
  await db.$executeRaw`
    UPDATE jobs SET idempotency_key = NULL
    FROM unnest(${keyed.map((j) => j.ownerId)}::uuid[], ${keyed.map((j) => j.idempotencyKey)}::text[])
      AS k(owner_id, idempotency_key)
    WHERE jobs.owner_id = k.owner_id AND jobs.idempotency_key = k.idempotency_key
      AND jobs.created_at <= now() - make_interval(secs => ${ttlMs / 1000}::float8)`;
}

/**
 * Inserts PENDING jobs in one statement (an INSERT over `unnest` of one array per column, in the
 * given order); the caller queues the inserted ones in the same transaction. A job whose owner's
 * Idempotency-Key is already held (by a committed job, by one of a concurrent transaction that
 * then commits, or by an earlier job of this same list) is skipped, not an error: `ON CONFLICT …
 * DO NOTHING` keeps one item's key from aborting the others. Returns the rows inserted, by id;
 * a job of `jobs` missing from the map was skipped for its key.
 *
 * With `queue` (a queue in the job database, jobs without an Idempotency-Key: every one is
 * inserted), each job's queue message is inserted by the same statement, with its wake-ups
 * (as `DbQueue.sendMany`'s: delivered on commit, at most MAX_WAKES_PER_BATCH distinct ones): one
 * round trip and no transaction around it.
 */
export async function insertJobs(
  db: Sql,
  jobs: readonly JobInsert[],
  opts: { queue?: boolean } = {},
): Promise<Map<string, Job>> {
  if (jobs.length === 0) return new Map();
  if (opts.queue && jobs.some((j) => j.idempotencyKey !== null || delaySecondsOf(j) > 0))
    throw new Error(
      'insertJobs queues only jobs without an Idempotency-Key or a delay (each one is inserted at once)',
    );
  // Every column, under Prisma's field names: the rows are the model's `Job`. The messages carry
  // the job's owner, type and priority for the claim's ranking (claim-next.ts).
  const rows = await db.query<RawJob>(sql`
    WITH u AS (
      SELECT * FROM unnest(
        ${jobs.map((j) => j.id)}::uuid[],
        ${jobs.map((j) => j.type)}::text[],
        ${jobs.map((j) => jsonText(j.params) ?? '{}')}::text[],
        ${jobs.map((j) => j.ownerId)}::uuid[],
        ${jobs.map((j) => j.maxAttempts)}::int[],
        ${jobs.map((j) => j.idempotencyKey)}::text[],
        ${jobs.map((j) => j.input?.key ?? null)}::text[],
        ${jobs.map((j) => j.input?.name ?? null)}::text[],
        ${jobs.map((j) => (j.input ? String(j.input.size) : null))}::bigint[],
        ${jobs.map((j) => j.input?.sha256 ?? null)}::text[],
        ${jobs.map((j) => j.schedule?.id ?? null)}::uuid[],
        ${jobs.map((j) => j.schedule?.tickAt.toISOString() ?? null)}::timestamptz[],
        ${jobs.map((j) => j.runAt?.toISOString() ?? null)}::timestamptz[],
        ${jobs.map((j) => j.priority ?? 0)}::int[],
        ${jobs.map((j) => j.webhookUrl ?? null)}::text[]
      ) WITH ORDINALITY AS u(id, type, params, owner_id, max_attempts, idempotency_key,
                             input_key, input_name, input_size, input_sha256, schedule_id,
                             schedule_tick_at, run_at, priority, webhook_url, ord)
    ), queued AS (
      INSERT INTO queue_messages (job_id, owner_id, job_type, priority)
      SELECT id, owner_id, type, priority FROM u WHERE ${opts.queue === true}::boolean ORDER BY ord
      RETURNING pg_notify(${QUEUE_CHANNEL}, (id % ${MAX_WAKES_PER_BATCH})::text)
    )
    INSERT INTO jobs (id, type, params, owner_id, max_attempts, idempotency_key,
                      input_key, input_name, input_size, input_sha256, schedule_id, schedule_tick_at,
                      run_at, priority, webhook_url)
    SELECT u.id, u.type, u.params::jsonb, u.owner_id, u.max_attempts, u.idempotency_key,
           u.input_key, u.input_name, u.input_size, u.input_sha256, u.schedule_id, u.schedule_tick_at,
           u.run_at, u.priority,
           -- The job's own webhook, else its owner's default (core/webhooks/), in this statement.
           coalesce(u.webhook_url, (SELECT w.default_url FROM webhook_settings w WHERE w.user_id = u.owner_id))
    FROM u
    -- In order: of two items with one key, the first is inserted and the second skipped.
    ORDER BY u.ord
    -- The predicate names the partial unique index (migration 20261205000000) as the arbiter.
    ON CONFLICT (owner_id, idempotency_key) WHERE idempotency_key IS NOT NULL DO NOTHING
    RETURNING id::text AS id, type, status::text AS status, params,
      input_name AS "inputName", input_size AS "inputSize", input_sha256 AS "inputSha256",
      input_key AS "inputKey", progress_done AS "progressDone", progress_total AS "progressTotal",
      result, error, attempts, max_attempts AS "maxAttempts", owner_id::text AS "ownerId",
      idempotency_key AS "idempotencyKey", lease_token::text AS "leaseToken",
      lease_expires_at AS "leaseExpiresAt", dead_lettered_at AS "deadLetteredAt",
      dead_letter_message_id AS "deadLetterMessageId", cancel_requested_at AS "cancelRequestedAt",
      log_seq AS "logSeq", schedule_id::text AS "scheduleId", schedule_tick_at AS "scheduleTickAt",
      run_at AS "runAt", priority, dispatched_at AS "dispatchedAt", webhook_url AS "webhookUrl", created_at AS "createdAt",
      started_at AS "startedAt", finished_at AS "finishedAt", updated_at AS "updatedAt", outputs`);
  return new Map(rows.map((r) => [r.id, toJob(r)]));
}

/** A `Job` as a driver reads it: its int8 columns as strings (pg), numbers (PGlite) or bigints. */
type Int8 = string | number | bigint;
type RawJob = Omit<Job, 'inputSize' | 'progressDone' | 'progressTotal'> & {
  inputSize: Int8 | null;
  progressDone: Int8 | null;
  progressTotal: Int8 | null;
};

function toJob(r: RawJob): Job {
  return {
    ...r,
    inputSize: toBigInt(r.inputSize),
    progressDone: toBigInt(r.progressDone),
    progressTotal: toBigInt(r.progressTotal),
  };
}
