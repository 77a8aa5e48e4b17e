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

/** How long every user's counts are shared between requests (see JobStatsService). */
export const ALL_COUNTS_TTL_MS = 2000;

/**
 * Counts for the dashboard's header, in two aggregate statements. One user's counts per status
 * are an index-only scan of (owner_id, status, …): 4 ms for a user with 10,000 of 1M jobs. The
 * last hour is a range of the finished_at index, the owner filtered on those rows only: 1.4 ms
 * with 1,400 jobs finished in the hour, whoever asks. (PostgreSQL 15, 1M jobs, 100 users, a loaded two-core machine.)
 *
 * Every user's counts (`all`) are a count of the whole table, 0.3 s for 1M jobs: each admin's
 * dashboard asks every few seconds while jobs change, so one count is shared by every request
 * for ALL_COUNTS_TTL_MS (and by concurrent ones while it runs).
 *
 * Why no (owner_id, finished_at) index: every completion would pay for it, and the finished_at
 * range is already small.
 */
export class JobStatsService {
  private shared?: { until: number; counts: Promise<Record<JobStatus, number>> };

  constructor(
    private readonly prisma: Prisma,
    private readonly now: () => number = Date.now,
  ) {}

  async stats(viewer: Principal, q: { all?: boolean }): Promise<JobStats> {
    requirePermission(viewer, 'job:Read');
    const all = q.all === true;
    if (all) requirePermission(viewer, 'job:ReadAll', "counting every user's jobs (all=true)");
    const owner = all ? null : viewer.userId;
    const [counts, minutes] = await Promise.all([
      owner === null ? this.everyonesCounts() : this.counts(owner),
      this.minutes(owner),
    ]);
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

  private everyonesCounts(): Promise<Record<JobStatus, number>> {
    const now = this.now();
    if (this.shared && now < this.shared.until) return this.shared.counts;
    const counts = this.counts(null);
    this.shared = { until: now + ALL_COUNTS_TTL_MS, counts };
    counts.catch(() => {
      if (this.shared?.counts === counts) this.shared = undefined;
    });
    return counts;
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
   * The window's start is written out where it is used, not in a CTE: PostgreSQL then estimates
   * the finished_at range (1,400 rows) instead of a third of the table, and reads it by the index
   * in 1.4 ms rather than 90 ms.
   */
  private async minutes(owner: string | null): Promise<JobStats['minutes']> {
    const span = STATS_WINDOW_MINUTES - 1;
    const rows = await this.prisma.$queryRaw<{ start: Date; completed: number; failed: number }[]>`
      SELECT m.start, coalesce(d.completed, 0) AS completed, coalesce(d.failed, 0) AS failed
      FROM generate_series(
             date_trunc('minute', now()) - make_interval(mins => ${span}::int),
             date_trunc('minute', now()),
             interval '1 minute') AS m(start)
      LEFT JOIN (
        SELECT date_trunc('minute', finished_at) AS start,
               count(*) FILTER (WHERE status = 'COMPLETED')::int AS completed,
               count(*) FILTER (WHERE status = 'FAILED')::int AS failed
        FROM jobs
        WHERE finished_at >= date_trunc('minute', now()) - make_interval(mins => ${span}::int)
          AND (${owner}::uuid IS NULL OR owner_id = ${owner}::uuid)
        GROUP BY 1
      ) d ON d.start = m.start
      ORDER BY m.start`;
    return rows.map((r) => ({ start: r.start.toISOString(), completed: r.completed, failed: r.failed }));
  }
}
