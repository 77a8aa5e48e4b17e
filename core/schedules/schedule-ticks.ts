import type { Schedule } from '../db/generated/client.js';
import type { Db } from '../jobs/store/types.js';

/** A due schedule as the ticker read it: the compare-and-set checks it is still so. */
export type DueSchedule = Pick<
  Schedule,
  'id' | 'ownerId' | 'cron' | 'timezone' | 'type' | 'params' | 'missed' | 'nextRunAt' | 'updatedAt'
>;

/** Up to `limit` schedules not paused whose next tick is at or before `now`, soonest first. */
export async function dueSchedules(db: Db, now: Date, limit: number): Promise<DueSchedule[]> {
  return db.$queryRaw<DueSchedule[]>`
    SELECT id::text AS id, owner_id::text AS "ownerId", cron, timezone, type, params, missed,
           next_run_at AS "nextRunAt", updated_at AS "updatedAt"
    FROM schedules
    WHERE NOT paused AND next_run_at <= ${now.toISOString()}::timestamptz
    ORDER BY next_run_at, id
    LIMIT ${limit}`;
}

/** The soonest next tick of any schedule not paused (null: none). */
export async function soonestTick(db: Db): Promise<Date | null> {
  const [row] = await db.$queryRaw<{ at: Date | null }[]>`
    SELECT min(next_run_at) AS at FROM schedules WHERE NOT paused`;
  return row?.at ?? null;
}

/**
 * Locks those of `due` that are still as read (same next run, unchanged, not paused) and that no
 * other transaction holds (SKIP LOCKED: a ticker holding them is handling them). Returns their ids.
 * Never waits, so tickers locking overlapping batches cannot deadlock.
 */
export async function lockDue(db: Db, due: readonly DueSchedule[]): Promise<Set<string>> {
  if (due.length === 0) return new Set();
  const rows = await db.$queryRaw<{ id: string }[]>`
    SELECT s.id::text AS id
    FROM schedules s
    JOIN unnest(
      ${due.map((d) => d.id)}::uuid[],
      ${due.map((d) => d.nextRunAt.toISOString())}::timestamptz[],
      ${due.map((d) => d.updatedAt.toISOString())}::timestamptz[]
    ) AS d(id, next_run_at, updated_at)
      ON s.id = d.id AND s.next_run_at = d.next_run_at AND s.updated_at = d.updated_at
    WHERE NOT s.paused
    ORDER BY s.id
    FOR UPDATE OF s SKIP LOCKED`;
  return new Set(rows.map((r) => r.id));
}

/** What a tick writes besides the next run: the job it created, or why it created none. */
export type TickResult = { jobId: string; tickAt: Date } | { error: string } | { skipped: true };

/**
 * The tick's compare-and-set: moves the schedule's next run from `s.nextRunAt` (the tick being
 * handled) to `next`, only if nobody did it first and the schedule did not change or pause since
 * it was read. Of any number of tickers handling one tick at once, exactly one gets true: the
 * UPDATE of the others waits on the row lock, then finds next_run_at moved and matches nothing.
 * Run it in the transaction that creates the tick's job, so the job and the move commit together.
 */
export async function advanceSchedule(
  db: Db,
  s: DueSchedule,
  next: Date,
  result: TickResult,
): Promise<boolean> {
  const created = 'jobId' in result ? result : undefined;
  const error = 'error' in result ? result.error : null;
  const n = await db.$executeRaw`
    UPDATE schedules
    SET next_run_at = ${next.toISOString()}::timestamptz,
        last_run_at = CASE WHEN ${created !== undefined}::boolean THEN ${created?.tickAt.toISOString() ?? null}::timestamptz ELSE last_run_at END,
        last_job_id = CASE WHEN ${created !== undefined}::boolean THEN ${created?.jobId ?? null}::uuid ELSE last_job_id END,
        last_error = CASE WHEN ${'skipped' in result}::boolean THEN last_error ELSE ${error}::text END
    WHERE id = ${s.id}::uuid AND next_run_at = ${s.nextRunAt.toISOString()}::timestamptz
      AND updated_at = ${s.updatedAt.toISOString()}::timestamptz
      AND NOT paused`;
  return n === 1;
}
