import { requirePermission } from '../auth/can.js';
import type { Principal } from '../auth/principal.js';
import type { Prisma } from '../db/database.js';
import { JOB_STATUSES, type JobStatus } from './job-dto.js';

/** The minutes of the throughput window (GET /api/stats). */
export const STATS_WINDOW_MINUTES = 60;

/** What the dashboard shows at a glance: jobs per status, and the last hour minute by minute. */
export interface JobStats {
  /** Whether every user's jobs are counted (`all=true`), or the caller's own. */
  all: boolean;
  /** Jobs per status, every status present (0 when none). */
  counts: Record<JobStatus, number>;
  /** The last `STATS_WINDOW_MINUTES` whole minutes (the current one last), oldest first. */
  minutes: { start: string; completed: number; failed: number }[];
  /** Sums over `minutes`, and failed / (completed + failed), null when nothing finished. */
  lastHour: { completed: number; failed: number; failureRate: number | null };
}

/**
 * Counts for the dashboard's header, in two aggregate statements, each a range of an index:
 * counts per status group one user's jobs on (owner_id, status, …) (every user's on
 * (status, …)); the last hour is a range of the finished_at index, with the owner filtered
 * on those rows only (an hour's finished jobs, not the table).
 *
 * Why no (owner_id, finished_at) index: every completion would pay for it, and the finished_at
 * range is already small.
 */
export class JobStatsService {
  constructor(private readonly prisma: Prisma) {}

  async stats(viewer: Principal, q: { all?: boolean }): Promise<JobStats> {
    requirePermission(viewer, 'job:Read');
    const all = q.all === true;
    if (all) requirePermission(viewer, 'job:ReadAll', "counting every user's jobs (all=true)");
    const owner = all ? null : viewer.userId;
    const [counts, minutes] = await Promise.all([this.counts(owner), this.minutes(owner)]);
    const completed = minutes.reduce((n, m) => n + m.completed, 0);
    const failed = minutes.reduce((n, m) => n + m.failed, 0);
    return {
      all,
      counts,
      minutes,
      lastHour: {
        completed,
        failed,
        failureRate: completed + failed === 0 ? null : failed / (completed + failed),
      },
    };
  }

  private async counts(owner: string | null): Promise<Record<JobStatus, number>> {
    const rows =
      owner === null
        ? await this.prisma.$queryRaw<{ status: JobStatus; n: number }[]>`
            SELECT status::text AS status, count(*)::int AS n FROM jobs GROUP BY status`
        : await this.prisma.$queryRaw<{ status: JobStatus; n: number }[]>`
            SELECT status::text AS status, count(*)::int AS n FROM jobs
            WHERE owner_id = ${owner}::uuid GROUP BY status`;
    const counts = Object.fromEntries(JOB_STATUSES.map((s) => [s, 0])) as Record<JobStatus, number>;
    for (const r of rows) counts[r.status] = r.n;
    return counts;
  }

  /**
   * COMPLETED and FAILED per minute by finished_at, zero-filled by generate_series so a quiet
   * minute is there too (the database's clock decides what "now" is, as it stamped finished_at).
   */
  private async minutes(owner: string | null): Promise<JobStats['minutes']> {
    const rows = await this.prisma.$queryRaw<{ start: Date; completed: number; failed: number }[]>`
      WITH win AS (
        SELECT date_trunc('minute', now()) - make_interval(mins => ${STATS_WINDOW_MINUTES - 1}::int) AS since
      ),
      done AS (
        SELECT date_trunc('minute', finished_at) AS start,
               count(*) FILTER (WHERE status = 'COMPLETED')::int AS completed,
               count(*) FILTER (WHERE status = 'FAILED')::int AS failed
        FROM jobs, win
        WHERE finished_at >= win.since
          AND (${owner}::uuid IS NULL OR owner_id = ${owner}::uuid)
        GROUP BY 1
      )
      SELECT m.start, coalesce(done.completed, 0) AS completed, coalesce(done.failed, 0) AS failed
      FROM win,
           generate_series(win.since, date_trunc('minute', now()), interval '1 minute') AS m(start)
      LEFT JOIN done ON done.start = m.start
      ORDER BY m.start`;
    return rows.map((r) => ({ start: r.start.toISOString(), completed: r.completed, failed: r.failed }));
  }
}
