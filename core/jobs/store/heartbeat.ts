import type { Db, Lease } from './types.js';

/** What a heartbeat found: the lease held (and whether cancelling was asked for), or lost. */
export type Beat = { held: true; cancelRequested: boolean } | { held: false; status: string | null };

/**
 * Extends an attempt's lease by `leaseSeconds` from now, if the attempt still holds it. Also
 * reports a cancel request, so the processor learns of it within one heartbeat.
 */
export async function heartbeat(db: Db, lease: Lease, leaseSeconds: number): Promise<Beat> {
  const [row] = await db.$queryRaw<{ cancel_requested: boolean }[]>`
    UPDATE jobs SET lease_expires_at = now() + make_interval(secs => ${leaseSeconds}::float8)
    WHERE id = ${lease.jobId}::uuid AND lease_token = ${lease.token}::uuid AND status = 'RUNNING'
    RETURNING cancel_requested_at IS NOT NULL AS cancel_requested`;
  if (row) return { held: true, cancelRequested: row.cancel_requested };
  const [now] = await db.$queryRaw<{ status: string }[]>`
    SELECT status::text AS status FROM jobs WHERE id = ${lease.jobId}::uuid`;
  return { held: false, status: now?.status ?? null };
}
