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

/**
 * The database queue's receive and the claim of each message's job in one statement, for up to
 * `max` messages (one per free worker slot): what used to be four round trips per job (receive,
 * extend the message's visibility, claim, log "started") is one per batch.
 *
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
 * Rows are taken FOR UPDATE SKIP LOCKED (messages) and FOR UPDATE in id order (jobs: a cancel or
 * another receive holding a job row is waited for, as `claimJob` does). Runs on the raw driver.
 */
export async function claimNext(
  db: Sql,
  opts: { max: number; leaseSeconds: number; visibilitySeconds: number; maxReceives: number },
): Promise<ClaimedMessage[]> {
  const rows = await db.query<Row>(sql`
    WITH dead AS (
      UPDATE queue_messages SET dead_lettered_at = now()
      WHERE dead_lettered_at IS NULL AND visible_at <= now() AND receive_count >= ${opts.maxReceives}
      RETURNING id
    ), picked AS (
      SELECT id, job_id FROM queue_messages
      WHERE dead_lettered_at IS NULL AND visible_at <= now() AND receive_count < ${opts.maxReceives}
      ORDER BY visible_at, id
      LIMIT ${opts.max}
      FOR UPDATE SKIP LOCKED
    ), msg AS (
      UPDATE queue_messages q
      SET receive_count = q.receive_count + 1,
          visible_at = now() + make_interval(secs => ${opts.visibilitySeconds}::float8),
          receipt_handle = gen_random_uuid()
      FROM picked WHERE q.id = picked.id
      RETURNING q.id, q.job_id, q.receipt_handle::text AS receipt_handle, q.receive_count, q.sent_at
    ), prev AS (
      SELECT j.id, j.status FROM jobs j
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
      WHERE jobs.id = prev.id
        AND (jobs.status = 'PENDING' OR (jobs.status = 'RUNNING' AND jobs.lease_expires_at < now()))
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
