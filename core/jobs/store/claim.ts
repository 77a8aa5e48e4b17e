import { OUTBOX_CHANNEL } from '../../queue/outbox.js';
import type { Db } from './types.js';
import type { ClaimLimits } from './claim-next.js';

/** A job as its claim returns it: what the processor needs to run the attempt. */
export interface ClaimedJob {
  /** The status before this claim: RUNNING means the previous attempt died with its worker. */
  prevStatus: 'PENDING' | 'RUNNING';
  id: string;
  type: string;
  params: unknown;
  /** This attempt's number (the claim counted it). */
  attempts: number;
  maxAttempts: number;
  /** Cancelling was asked for while the previous attempt ran (which then died). */
  cancelRequested: boolean;
  input: { key: string; name: string; size: number; sha256: string | null } | null;
}

/** The columns a claim returns (claim-next.ts returns the same). */
export interface ClaimedRow {
  prev_status: 'PENDING' | 'RUNNING';
  id: string;
  type: string;
  params: unknown;
  attempts: number;
  max_attempts: number;
  cancel_requested: boolean;
  input_key: string | null;
  input_name: string | null;
  /** int8: a bigint (Prisma), a string (pg) or a number (PGlite). */
  input_size: string | number | bigint | null;
  input_sha256: string | null;
}

/**
 * Claims a job for one attempt: only a PENDING job, or a RUNNING one whose lease expired (its
 * worker died or hung). Counts the attempt and writes the lease: `token` and an expiry
 * `leaseSeconds` from now. Undefined when the job is not claimable (a duplicate delivery, a job
 * held by a live attempt, a finished or missing job).
 */
export async function claimJob(
  db: Db,
  jobId: string,
  token: string,
  leaseSeconds: number,
): Promise<ClaimedJob | undefined> {
  // The claim of a PENDING job whose message counted in its owner's window of SQS messages sent
  // and not yet started (dispatched_at: set only by a fair relay) frees a place: it wakes the
  // outbox relays (core/queue/outbox.ts), wherever they run. Without fair dispatch, no NOTIFY.
  const [row] = await db.$queryRaw<ClaimedRow[]>`
    WITH prev AS (SELECT id, status, dispatched_at FROM jobs WHERE id = ${jobId}::uuid FOR UPDATE),
    claimed AS (
      UPDATE jobs
      SET status = 'RUNNING', attempts = attempts + 1, lease_token = ${token}::uuid,
          lease_expires_at = now() + make_interval(secs => ${leaseSeconds}::float8),
          started_at = coalesce(started_at, now()), updated_at = now()
      FROM prev
      WHERE jobs.id = prev.id
        AND (jobs.status = 'PENDING' OR (jobs.status = 'RUNNING' AND jobs.lease_expires_at < now()))
      RETURNING prev.status::text AS prev_status, jobs.id, jobs.type, jobs.params, jobs.attempts,
        jobs.max_attempts, jobs.cancel_requested_at IS NOT NULL AS cancel_requested,
        jobs.input_key, jobs.input_name, jobs.input_size, jobs.input_sha256,
        prev.dispatched_at IS NOT NULL AS held_place
    ), woken AS (
      SELECT pg_notify(${OUTBOX_CHANNEL}, '') FROM claimed WHERE prev_status = 'PENDING' AND held_place
    )
    SELECT c.*, (SELECT count(*) FROM woken) AS woken FROM claimed c`;
  return row && toClaimedJob(row);
}

export function toClaimedJob(row: ClaimedRow): ClaimedJob {
  return {
    prevStatus: row.prev_status,
    id: row.id,
    type: row.type,
    params: row.params,
    attempts: row.attempts,
    maxAttempts: row.max_attempts,
    cancelRequested: row.cancel_requested,
    input:
      row.input_key !== null
        ? {
            key: row.input_key,
            name: row.input_name ?? '',
            size: Number(row.input_size ?? 0),
            sha256: row.input_sha256,
          }
        : null,
  };
}

/** The transaction-scoped advisory lock that serializes claims under concurrency limits. */
export const CLAIM_LIMITS_LOCK_KEY = 72_220_015;

/**
 * Whether claiming `jobId` now would put its type or its owner over `limits`: the RUNNING jobs
 * with a live lease of its type and of its owner, against the type's limit and the per-owner cap.
 * False for a job that is not claimable anyway (a duplicate delivery is handled as one). Run it in
 * the transaction that then claims, after taking CLAIM_LIMITS_LOCK_KEY, so no other claim counts
 * in between (the Lambda's claim: JobStore.claim).
 */
export async function overLimits(db: Db, jobId: string, limits: ClaimLimits): Promise<boolean> {
  const [row] = await db.$queryRaw<
    { type: string; claimable: boolean; type_running: number; owner_running: number }[]
  >`
    SELECT j.type, (j.status = 'PENDING' OR (j.status = 'RUNNING' AND j.lease_expires_at < now())) AS claimable,
      (SELECT count(*)::int FROM jobs r
       WHERE r.type = j.type AND r.status = 'RUNNING' AND r.lease_expires_at > now()) AS type_running,
      (SELECT count(*)::int FROM jobs r
       WHERE r.owner_id = j.owner_id AND r.status = 'RUNNING' AND r.lease_expires_at > now()) AS owner_running
    FROM jobs j WHERE j.id = ${jobId}::uuid`;
  if (!row?.claimable) return false;
  const typeLimit = limits.typeConcurrency.get(row.type) ?? 0;
  return (
    (typeLimit > 0 && row.type_running >= typeLimit) ||
    (limits.maxRunningPerOwner > 0 && row.owner_running >= limits.maxRunningPerOwner)
  );
}
