import { sql } from '../../db/sql.js';
import { LIVE_CHANNEL } from '../live-events.js';
import { toClaimedJob, type ClaimedJob, type ClaimedRow } from './claim.js';
import type { Lease, Sql } from './types.js';

/** A queue message received together with the claim of its job. */
export interface ClaimedMessage {
  messageId: string;
  jobId: string;
  receiptHandle: string;
  receiveCount: number;
  sentAt: Date;
  /**
   * The attempt this receive claimed, or null when the job was not claimable (a duplicate
   * message, a job a live attempt holds, a finished or missing job). `startedLogged`: the claim
   * wrote the attempt's "started" line.
   */
  claimed: { lease: Lease; job: ClaimedJob; startedLogged: boolean } | null;
}

interface Row extends Partial<ClaimedRow> {
  message_id: string | number | bigint;
  message_job_id: string;
  receipt_handle: string;
  receive_count: number;
  sent_at: Date;
  token: string | null;
  started_logged: boolean | null;
}

/** The line a claim writes when an attempt of a PENDING job starts (run-job.ts writes the same). */
export function startedLine(attempts: number, maxAttempts: number): string {
  return `attempt ${attempts} of ${maxAttempts} started`;
}

/** The limits a claim applies (core/jobs/scheduling.ts builds them from handlers and config). */
export interface ClaimLimits {
  /** At most this many RUNNING jobs per owner (live leases), across every worker; 0: no cap. */
  maxRunningPerOwner: number;
  /** At most this many RUNNING jobs of a type (live leases), across every worker. */
  typeConcurrency: ReadonlyMap<string, number>;
}

export const NO_LIMITS: ClaimLimits = { maxRunningPerOwner: 0, typeConcurrency: new Map() };

/** Whether `limits` caps anything (a capped claim must not race another: see JobStore.claimNext). */
export function hasLimits(limits: ClaimLimits): boolean {
  return limits.maxRunningPerOwner > 0 || limits.typeConcurrency.size > 0;
}

/**
 * How many (owner, type, priority) keys of waiting messages one claim looks at. Each costs one
 * index descent; beyond this many, a claim looks at this many from a random owner on (wrapping
 * round), so every owner is reached in turn however many there are.
 */
export const CLAIM_KEYS = 64;

/**
 * The database queue's receive and the claim of each message's job in one statement, for up to
 * `max` messages (one per free worker slot): what used to be four round trips per job (receive,
 * extend the message's visibility, claim, log "started") is one per batch.
 *
 * Which messages (scheduling, issue 15):
 * - Candidates: the distinct (owner, type, priority) keys of live messages are found by a skip
 *   scan of the (owner_id, job_type, priority, visible_at, id) index (at most CLAIM_KEYS of them,
 *   from a random owner on), then up to `max` visible messages of each key, oldest first, taken
 *   FOR UPDATE SKIP LOCKED. Bounded (keys × max rows) and indexed however long the queue is.
 * - Fair sharing: each candidate's turn is its owner's RUNNING jobs plus its place among the
 *   owner's candidates (priority, then age). Lower turns go first, so free slots go round the
 *   owners: one owner's thousand waiting jobs get a slot after another owner's one job, not before.
 * - Priority orders an owner's own jobs, and among candidates of the same turn, higher first; then
 *   oldest first. It does not let one owner's jobs take another owner's turn.
 * - Limits (`limits`): a candidate whose owner would be over `maxRunningPerOwner`, or whose type
 *   over its `typeConcurrency`, counting the RUNNING jobs (live leases) and the candidates picked
 *   before it, is left waiting. Counts are of one snapshot: JobStore.claimNext serializes capped
 *   claims on PostgreSQL so two cannot both take the last slot.
 *
 * The rest as before:
 * - Messages received `maxReceives` times already go to the dead letters instead (as SQS's
 *   redrive policy does), in the same statement.
 * - Each picked message is hidden for `visibilitySeconds` (longer than the lease) with a new
 *   receipt handle and its receive count, like `DbQueue.receive`.
 * - Each message's job is claimed like `claimJob` does (PENDING, or RUNNING with an expired
 *   lease; counts the attempt; a fresh lease token), one claim per job when a batch holds two
 *   messages of one job (the other comes back unclaimed: a duplicate).
 * - A PENDING job's "attempt N of M started" line is written with its claim (seq reserved on the
 *   row, announced on the live channel on commit). A RUNNING job's claim (its last attempt died)
 *   is left to the processor, which logs why before the attempt starts.
 *
 * Jobs are taken FOR UPDATE in id order (a cancel or another receive holding a job row is waited
 * for, as `claimJob` does). Runs on the raw driver.
 */
export async function claimNext(
  db: Sql,
  opts: {
    max: number;
    leaseSeconds: number;
    visibilitySeconds: number;
    maxReceives: number;
    limits?: ClaimLimits;
  },
): Promise<ClaimedMessage[]> {
  const limits = opts.limits ?? NO_LIMITS;
  const types = [...limits.typeConcurrency.keys()];
  const rows = await db.query<Row>(sql`
    WITH RECURSIVE dead AS (
      -- Through queue_messages_receive_count_idx: only live messages at or past the limit.
      UPDATE queue_messages SET dead_lettered_at = now()
      WHERE dead_lettered_at IS NULL AND receive_count >= ${opts.maxReceives} AND visible_at <= now()
      RETURNING id
    ), start AS (
      SELECT gen_random_uuid() AS owner_id
    ), keys AS (
      -- The first key from a random owner on (or, when there is none, the first of all) …
      SELECT * FROM (
        -- (A scalar subquery, not a join with start: only so is it an index bound.)
        (SELECT m.owner_id, m.job_type, m.priority, false AS wrapped FROM queue_messages m
         WHERE m.dead_lettered_at IS NULL AND m.owner_id >= (SELECT owner_id FROM start)
         ORDER BY m.owner_id, m.job_type, m.priority LIMIT 1)
        UNION ALL
        (SELECT m.owner_id, m.job_type, m.priority, true FROM queue_messages m
         WHERE m.dead_lettered_at IS NULL
         ORDER BY m.owner_id, m.job_type, m.priority LIMIT 1)
        LIMIT 1
      ) first_key
      UNION ALL
      -- … then each next key, wrapping round once to the owners before the random one.
      SELECT nx.owner_id, nx.job_type, nx.priority, nx.wrapped
      FROM keys k, start s, LATERAL (
        (SELECT m.owner_id, m.job_type, m.priority, k.wrapped FROM queue_messages m
         WHERE m.dead_lettered_at IS NULL
           AND (m.owner_id, m.job_type, m.priority) > (k.owner_id, k.job_type, k.priority)
           AND (NOT k.wrapped OR m.owner_id < s.owner_id)
         ORDER BY m.owner_id, m.job_type, m.priority LIMIT 1)
        UNION ALL
        (SELECT m.owner_id, m.job_type, m.priority, true FROM queue_messages m
         WHERE m.dead_lettered_at IS NULL AND NOT k.wrapped AND m.owner_id < s.owner_id
         ORDER BY m.owner_id, m.job_type, m.priority LIMIT 1)
        LIMIT 1
      ) nx
    ), cand AS (
      SELECT c.* FROM (SELECT * FROM keys LIMIT ${CLAIM_KEYS}) k, LATERAL (
        SELECT m.id, m.job_id, m.owner_id, m.job_type, m.priority, m.visible_at FROM queue_messages m
        WHERE m.owner_id = k.owner_id AND m.job_type = k.job_type AND m.priority = k.priority
          AND m.dead_lettered_at IS NULL AND m.visible_at <= now()
          AND m.receive_count < ${opts.maxReceives}
        ORDER BY m.visible_at, m.id
        LIMIT ${opts.max}
        FOR UPDATE SKIP LOCKED
      ) c
    ), owner_running AS (
      SELECT j.owner_id, count(*) AS n FROM jobs j
      WHERE j.owner_id IN (SELECT DISTINCT owner_id FROM cand)
        AND j.status = 'RUNNING' AND j.lease_expires_at > now()
      GROUP BY j.owner_id
    ), type_limit AS (
      SELECT t.job_type, t.lim
      FROM unnest(${types}::text[], ${types.map((t) => limits.typeConcurrency.get(t)!)}::int[]) AS t(job_type, lim)
      WHERE t.job_type IN (SELECT job_type FROM cand)
    ), type_running AS (
      SELECT j.type AS job_type, count(*) AS n FROM jobs j
      WHERE j.status = 'RUNNING' AND j.lease_expires_at > now() AND j.type IN (SELECT job_type FROM type_limit)
      GROUP BY j.type
    ), ranked AS (
      SELECT c.*, coalesce(o.n, 0) + row_number() OVER (
          PARTITION BY c.owner_id ORDER BY c.priority DESC, c.visible_at, c.id) AS turn
      FROM cand c LEFT JOIN owner_running o ON o.owner_id = c.owner_id
    ), within_owner AS (
      SELECT r.*, row_number() OVER (
          PARTITION BY r.job_type ORDER BY r.turn, r.priority DESC, r.visible_at, r.id) AS type_turn
      FROM ranked r
      WHERE ${limits.maxRunningPerOwner}::int = 0 OR r.turn <= ${limits.maxRunningPerOwner}::int
    ), picked AS (
      SELECT w.id, w.job_id FROM within_owner w
      LEFT JOIN type_limit tl ON tl.job_type = w.job_type
      LEFT JOIN type_running tr ON tr.job_type = w.job_type
      WHERE tl.lim IS NULL OR coalesce(tr.n, 0) + w.type_turn <= tl.lim
      ORDER BY w.turn, w.priority DESC, w.visible_at, w.id
      LIMIT ${opts.max}
    ), msg AS (
      UPDATE queue_messages q
      SET receive_count = q.receive_count + 1,
          visible_at = now() + make_interval(secs => ${opts.visibilitySeconds}::float8),
          receipt_handle = gen_random_uuid()
      FROM picked WHERE q.id = picked.id
      RETURNING q.id, q.job_id, q.receipt_handle::text AS receipt_handle, q.receive_count, q.sent_at
    ), prev AS (
      SELECT j.id, j.status, j.lease_expires_at FROM jobs j
      WHERE j.id IN (SELECT job_id FROM picked)
      ORDER BY j.id
      FOR UPDATE
    ), claimed AS (
      UPDATE jobs
      SET status = 'RUNNING', attempts = attempts + 1, lease_token = gen_random_uuid(),
          lease_expires_at = now() + make_interval(secs => ${opts.leaseSeconds}::float8),
          started_at = coalesce(started_at, now()), updated_at = now(),
          log_seq = log_seq + CASE WHEN prev.status = 'PENDING' AND attempts < max_attempts THEN 1 ELSE 0 END
      FROM prev
      -- Tested on prev (the row as locked, so current), not on jobs: with no condition of its own
      -- on jobs but the id, the plan reaches each row by its key however the table grew since
      -- the statement was prepared (a filter here made a plan prepared on a young table scan it).
      WHERE jobs.id = prev.id
        AND (prev.status = 'PENDING' OR (prev.status = 'RUNNING' AND prev.lease_expires_at < now()))
      RETURNING prev.status::text AS prev_status, jobs.id, jobs.type, jobs.params, jobs.attempts,
        jobs.max_attempts, jobs.cancel_requested_at IS NOT NULL AS cancel_requested,
        jobs.input_key, jobs.input_name, jobs.input_size, jobs.input_sha256,
        jobs.lease_token::text AS token, jobs.log_seq,
        prev.status = 'PENDING' AND jobs.attempts <= jobs.max_attempts AS started_logged
    ), started AS (
      INSERT INTO job_logs (job_id, seq, ts, level, message)
      SELECT id, log_seq, now(), 'info', 'attempt ' || attempts || ' of ' || max_attempts || ' started'
      FROM claimed WHERE started_logged
      RETURNING job_id, seq
    ), announced AS (
      SELECT pg_notify(${LIVE_CHANNEL}, json_build_object('k', 'log', 'id', job_id, 'seq', seq)::text)
      FROM started
    )
    SELECT msg.id AS message_id, msg.job_id AS message_job_id, msg.receipt_handle, msg.receive_count,
      msg.sent_at, c.*, (SELECT count(*) FROM announced) AS announced
    FROM msg
    LEFT JOIN claimed c
      ON c.id = msg.job_id AND msg.id = (SELECT min(p.id) FROM picked p WHERE p.job_id = msg.job_id)
    ORDER BY msg.id`);
  return rows.map((r) => ({
    messageId: String(r.message_id),
    jobId: r.message_job_id,
    receiptHandle: r.receipt_handle,
    receiveCount: r.receive_count,
    sentAt: r.sent_at,
    claimed:
      r.token && r.id
        ? {
            lease: { jobId: r.id, token: r.token },
            job: toClaimedJob(r as ClaimedRow),
            startedLogged: r.started_logged === true,
          }
        : null,
  }));
}
