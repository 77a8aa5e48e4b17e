import type { Db, Lease } from './types.js';

export interface Progress {
  done: number;
  total: number | null;
}

/** Records an attempt's progress (advisory: a write lost to a blip is superseded by the next). */
export async function setProgress(db: Db, lease: Lease, p: Progress): Promise<boolean> {
  const n = await db.$executeRaw`
    UPDATE jobs SET progress_done = ${Math.round(p.done)}::bigint,
      progress_total = ${p.total === null ? null : Math.round(p.total)}::bigint, updated_at = now()
    WHERE id = ${lease.jobId}::uuid AND lease_token = ${lease.token}::uuid AND status = 'RUNNING'`;
  return n > 0;
}
