import type { Db } from './types.js';

/**
 * Expires the lease of every RUNNING job, so each can be claimed again at once. Only for a
 * database this process alone owns (the embedded PGlite at start-up): whatever was running
 * belonged to a process that died. Returns how many.
 */
export async function expireAllLeases(db: Db): Promise<number> {
  return db.$executeRaw`UPDATE jobs SET lease_expires_at = now() WHERE status = 'RUNNING'`;
}
