import { sql } from '../../db/sql.js';
import { LIVE_CHANNEL } from '../live-events.js';
import type { Progress } from './progress.js';
import { jsonText, type Lease, type LogLine, type Sql } from './types.js';

/** One attempt that succeeded, as `completeJobs` writes it. */
export interface Completion {
  lease: Lease;
  result: unknown;
  /** The last progress, when not written yet. */
  progress?: Progress;
  /** The attempt's last log lines. */
  lines: readonly LogLine[];
  /** Acknowledge the delivery `lease.receipt` (a queue in the job database) in the same statement. */
  ack: boolean;
}

/**
 * Attempts that succeeded, in one statement and no transaction around it, however many: each
 * job COMPLETED with its result (and its last progress), its last log lines appended (seqs
 * reserved on the row, announced on the live channel), its delivery acknowledged (its queue
 * message deleted) and, when it has a webhook, its webhook delivery recorded. The job ids must
 * be distinct (a statement updates a row once).
 *
 * Each job's outcome is guarded by its lease: an attempt that no longer holds its job (cancelled,
 * given up on, claimed again) changes nothing but its log, whose lines are still appended, and
 * its message, which is done with either way. Answers, in order, whether each attempt held its
 * job. Rows are locked in id order, so two calls never wait on each other's rows in opposite
 * orders.
 *
 * It replaces a transaction of five round trips per end (BEGIN, the lines, the outcome, the
 * acknowledgement, COMMIT): BENCHMARKS.md, throughput.
 */
export async function completeJobs(db: Sql, ends: readonly Completion[]): Promise<boolean[]> {
  if (ends.length === 0) return [];
  const lines = ends.flatMap((e) => e.lines.map((l, i) => ({ jobId: e.lease.jobId, ord: i + 1, l })));
  const rows = await db.query<{ held: boolean }>(sql`
    WITH u AS (
      SELECT * FROM unnest(
        ${ends.map((e) => e.lease.jobId)}::uuid[],
        ${ends.map((e) => e.lease.token)}::uuid[],
        ${ends.map((e) => jsonText(e.result))}::text[],
        ${ends.map((e) => e.progress !== undefined)}::bool[],
        ${ends.map((e) => (e.progress ? Math.round(e.progress.done) : null))}::bigint[],
        ${ends.map((e) => (e.progress && e.progress.total !== null ? Math.round(e.progress.total) : null))}::bigint[],
        ${ends.map((e) => e.lines.length)}::int[],
        ${ends.map((e) => (e.ack ? (e.lease.receipt ?? null) : null))}::uuid[]
      ) WITH ORDINALITY AS u(job_id, token, result, set_progress, progress_done, progress_total,
                             n_lines, receipt, ord)
      -- The planner cannot see an array parameter's length: without this it takes u for 10 rows
      -- and, in a plan prepared while the jobs table was young, scans jobs instead of reaching
      -- each row by its key; the plan is kept as the table grows (BENCHMARKS.md, throughput).
      LIMIT ${ends.length}
    ), prev AS (
      SELECT j.id, j.status = 'RUNNING' AND j.lease_token = u.token AS held
      FROM jobs j JOIN u ON u.job_id = j.id
      ORDER BY j.id
      FOR UPDATE OF j
    ), ended AS (
      UPDATE jobs SET
        log_seq = jobs.log_seq + u.n_lines,
        status = CASE WHEN prev.held THEN 'COMPLETED'::"JobStatus" ELSE jobs.status END,
        result = CASE WHEN prev.held THEN u.result::jsonb ELSE jobs.result END,
        error = CASE WHEN prev.held THEN NULL ELSE jobs.error END,
        progress_done = CASE WHEN prev.held AND u.set_progress THEN u.progress_done
                        ELSE jobs.progress_done END,
        progress_total = CASE WHEN prev.held AND u.set_progress THEN u.progress_total
                         ELSE jobs.progress_total END,
        finished_at = CASE WHEN prev.held THEN now() ELSE jobs.finished_at END,
        lease_token = CASE WHEN prev.held THEN NULL ELSE jobs.lease_token END,
        lease_expires_at = CASE WHEN prev.held THEN NULL ELSE jobs.lease_expires_at END,
        updated_at = CASE WHEN prev.held THEN now() ELSE jobs.updated_at END
      FROM u JOIN prev ON prev.id = u.job_id
      WHERE jobs.id = u.job_id AND (prev.held OR u.n_lines > 0)
      RETURNING jobs.id, prev.held, jobs.log_seq, u.n_lines, jobs.webhook_url,
        CASE WHEN u.n_lines > 0 THEN
          pg_notify(${LIVE_CHANNEL}, json_build_object('k', 'log', 'id', jobs.id, 'seq', jobs.log_seq)::text)
        END AS announced
    ), logged AS (
      INSERT INTO job_logs (job_id, seq, ts, level, message, data)
      SELECT l.job_id, e.log_seq - e.n_lines + l.ord, l.ts, l.level, l.message, l.data::jsonb
      FROM unnest(
        ${lines.map((x) => x.jobId)}::uuid[],
        ${lines.map((x) => x.ord)}::int[],
        ${lines.map((x) => x.l.ts.toISOString())}::timestamptz[],
        ${lines.map((x) => x.l.level)}::text[],
        ${lines.map((x) => x.l.message)}::text[],
        ${lines.map((x) => x.l.data ?? null)}::text[]
      ) AS l(job_id, ord, ts, level, message, data)
      JOIN ended e ON e.id = l.job_id
      RETURNING 1
    ), hooked AS (
      -- A job with a webhook gets its delivery in this same statement (an outbox: the
      -- deliverer POSTs it, core/webhooks/); a job without one inserts nothing.
      INSERT INTO webhook_deliveries (id, job_id, event, url)
      SELECT gen_random_uuid(), e.id, 'job.completed', e.webhook_url FROM ended e
      WHERE e.held AND e.webhook_url IS NOT NULL
      RETURNING 1
    ), acked AS (
      -- A dead letter stays, whoever acknowledges it afterwards (as DbQueue.deleteIn). The job id
      -- finds the message by its index (there is none on receipts), one lookup per job: with
      -- \`dead_lettered_at IS NULL\` in the lookup, a plan prepared on a young queue read the whole
      -- queue through the partial index that condition matches (deleted messages too, until
      -- vacuumed), so the dead letter is tested on the message found.
      DELETE FROM queue_messages q
      WHERE q.id IN (
        SELECT m.id FROM u, LATERAL (
          SELECT m.id, m.dead_lettered_at FROM queue_messages m
          WHERE m.job_id = u.job_id AND m.receipt_handle = u.receipt
          LIMIT 1 -- a receipt is one receive's: one message (the LIMIT also keeps this a lookup)
        ) m
        WHERE m.dead_lettered_at IS NULL
      )
      RETURNING 1
    )
    SELECT coalesce(e.held, false) AS held
    FROM u LEFT JOIN ended e ON e.id = u.job_id
    ORDER BY u.ord`);
  return rows.map((r) => r.held);
}
