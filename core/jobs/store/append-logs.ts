import { LIVE_CHANNEL } from '../live-events.js';
import type { Db, LogLine } from './types.js';

/**
 * Appends log lines to a job, in one statement: reserves their seqs on the job row's `log_seq`
 * counter, inserts them, and announces the batch on the live channel (delivered on commit).
 *
 * One statement, not a transaction of two: the job row stays locked only while the database runs
 * it, and as that lock is held until commit, lines become visible in seq order, so a reader
 * following `seq > after` never skips one. Several writers on one job (an attempt and a duplicate
 * delivery, say) never collide. The NOTIFY payload is small (the id and the last seq); listeners
 * read the lines.
 */
export async function appendLogs(db: Db, jobId: string, lines: readonly LogLine[]): Promise<void> {
  if (lines.length === 0) return;
  await db.$executeRaw`
    WITH s AS (
      UPDATE jobs SET log_seq = log_seq + ${lines.length}
      WHERE id = ${jobId}::uuid
      RETURNING log_seq,
        pg_notify(${LIVE_CHANNEL}, json_build_object('k', 'log', 'id', id, 'seq', log_seq)::text)
    )
    INSERT INTO job_logs (job_id, seq, ts, level, message, data)
    SELECT ${jobId}::uuid, s.log_seq - ${lines.length} + u.ord::int, u.ts, u.level, u.message,
           u.data::jsonb
    FROM s, unnest(
      ${lines.map((l) => l.ts)}::timestamptz[],
      ${lines.map((l) => l.level)}::text[],
      ${lines.map((l) => l.message)}::text[],
      ${lines.map((l) => l.data ?? null)}::text[]
    ) WITH ORDINALITY AS u(ts, level, message, data, ord)`;
}
