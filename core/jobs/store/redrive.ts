import { Prisma as P } from '../../db/generated/client.js';
import type { Db } from './types.js';

/**
 * Up to `limit` dead-lettered jobs (all, or those in `ids`), oldest dead letter first, locked
 * for the caller's transaction; rows another redrive holds are skipped.
 */
export async function lockDeadLetters(db: Db, limit: number, ids?: readonly string[]): Promise<string[]> {
  const rows = await db.$queryRaw<{ id: string }[]>`
    SELECT id FROM jobs
    WHERE dead_lettered_at IS NOT NULL AND status = 'FAILED'
      ${ids ? P.sql`AND id = ANY(${[...ids]}::uuid[])` : P.empty}
    ORDER BY dead_lettered_at, id
    LIMIT ${limit}
    FOR UPDATE SKIP LOCKED`;
  return rows.map((r) => r.id);
}
