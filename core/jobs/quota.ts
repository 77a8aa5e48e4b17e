import type { Prisma } from '../db/database.js';
import { QuotaExceededError } from '../errors.js';

/** A transaction of the job database's client (or the client itself). */
type Db = Pick<Parameters<Parameters<Prisma['$transaction']>[0]>[0], '$queryRaw'>;

/** Retry-After of a quota refusal: jobs take their time; a minute is a polite first guess. */
export const QUOTA_RETRY_AFTER_SECONDS = 60;

/**
 * Throws QuotaExceededError (429) when `ownerId` already has `max` jobs PENDING or RUNNING; `max`
 * 0 means no cap. Call it in the transaction that inserts the job (or puts one back in line):
 * concurrent requests of one user can then overshoot only by the requests counting at the same
 * instant (at most the connection pool's size), not by a burst of thousands.
 *
 * The count stops at `max` (a LIMIT under the count), so it reads at most `max` index entries of
 * the (owner_id, status, …) index however many jobs the user has.
 *
 * @example
 * await store.create(job, {
 *   idempotencyTtlMs,
 *   guard: (tx) => checkActiveJobsQuota(tx, owner.userId, 1000),
 * });
 */
export async function checkActiveJobsQuota(db: Db, ownerId: string, max: number): Promise<void> {
  if (max <= 0) return;
  const [row] = await db.$queryRaw<{ n: number }[]>`
    SELECT count(*)::int AS n FROM (
      SELECT 1 FROM jobs
      WHERE owner_id = ${ownerId}::uuid AND status IN ('PENDING', 'RUNNING')
      LIMIT ${max}
    ) active`;
  if ((row?.n ?? 0) >= max) {
    throw new QuotaExceededError(
      `too many active jobs: at most ${max} of a user's jobs may be pending or running at once ` +
        '(JOBS_MAX_ACTIVE_JOBS_PER_USER); wait for some to finish, or cancel some',
      QUOTA_RETRY_AFTER_SECONDS,
      { limit: max, name: 'JOBS_MAX_ACTIVE_JOBS_PER_USER' },
    );
  }
}
