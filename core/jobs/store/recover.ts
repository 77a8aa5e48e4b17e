import type { Db } from './types.js';

/**
 * Expires the lease of every RUNNING job, so each can be claimed again at once. Only for a
 * database this process alone owns (the embedded PGlite at start-up): whatever was running
 * belonged to a process that died. Returns how many.
 */
export async function expireAllLeases(db: Db): Promise<number> {
  // A second ago, not now(): the column keeps milliseconds and may round now() up, and a claim
  // takes a lease only once it is strictly past (`lease_expires_at < now()`).
  return db.$executeRaw`
    UPDATE jobs SET lease_expires_at = now() - interval '1 second' WHERE status = 'RUNNING'`;
}
