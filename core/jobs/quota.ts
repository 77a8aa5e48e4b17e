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
  if ((row?.n ?? 0) >= max) throw quotaExceeded(max);
}

/**
 * How many more jobs each of `ownerIds` may have PENDING or RUNNING (`max` minus the active ones,
 * at least 0), in one statement; each count stops at `max`, like `checkActiveJobsQuota`'s.
 */
export async function activeJobsRoom(
  db: Db,
  ownerIds: readonly string[],
  max: number,
): Promise<Map<string, number>> {
  const owners = [...new Set(ownerIds)];
  if (owners.length === 0) return new Map();
  const rows = await db.$queryRaw<{ owner_id: string; n: number }[]>`
    SELECT o.owner_id::text AS owner_id, (
      SELECT count(*)::int FROM (
        SELECT 1 FROM jobs
        WHERE owner_id = o.owner_id AND status IN ('PENDING', 'RUNNING')
        LIMIT ${max}
      ) active
    ) AS n
    FROM unnest(${owners}::uuid[]) AS o(owner_id)`;
  return new Map(rows.map((r) => [r.owner_id, Math.max(0, max - r.n)]));
}

/**
 * An `admit` hook for `JobStore.createMany`: each owner's jobs are admitted in order while the
 * owner has room under `max` active jobs, the rest refused (`max` 0: no cap, all admitted).
 *
 * @example
 * await store.createMany(jobs, { idempotencyTtlMs, admit: admitWithinQuota(1000) });
 */
export function admitWithinQuota(
  max: number,
): (db: Db, jobs: readonly { ownerId: string }[]) => Promise<boolean[]> {
  return async (db, jobs) => {
    if (max <= 0) return jobs.map(() => true);
    const room = await activeJobsRoom(
      db,
      jobs.map((j) => j.ownerId),
      max,
    );
    return jobs.map((j) => {
      const left = room.get(j.ownerId) ?? 0;
      room.set(j.ownerId, left - 1);
      return left > 0;
    });
  };
}

/** The refusal of a job over its owner's cap (the same sentence as `checkActiveJobsQuota`'s). */
export function quotaExceeded(max: number): QuotaExceededError {
  return new QuotaExceededError(
    `too many active jobs: at most ${max} of a user's jobs may be pending or running at once ` +
      '(JOBS_MAX_ACTIVE_JOBS_PER_USER); wait for some to finish, or cancel some',
    QUOTA_RETRY_AFTER_SECONDS,
    { limit: max, name: 'JOBS_MAX_ACTIVE_JOBS_PER_USER' },
  );
}
