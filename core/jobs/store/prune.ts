import type { Db } from './types.js';

/** A finished job deleted by `pruneFinished`, with what the caller removes from the blob store. */
export interface PrunedJob {
  id: string;
  ownerId: string;
  /** The job's input in the blob store, if it had one. */
  inputKey: string | null;
  /** The blob keys of its outputs (listed or not: core/jobs/outputs.ts). */
  outputKeys: string[];
}

/**
 * Deletes up to `limit` jobs that finished before `cutoff`, oldest first, in one statement: the
 * rows, their log lines and outbox rows (foreign keys, ON DELETE CASCADE), their queue messages
 * (a FAILED job's dead letter) and the direct-upload record of their input. Returns them with
 * their input and output keys, so the caller removes their blobs once this committed.
 *
 * Small batches (the caller loops): each holds its rows' locks for moments, and rows another
 * transaction holds (a retry of that job right now) are skipped, not waited for.
 */
export async function pruneFinished(db: Db, cutoff: Date, limit: number): Promise<PrunedJob[]> {
  return db.$queryRaw<PrunedJob[]>`
    WITH doomed AS (
      SELECT id FROM jobs
      WHERE finished_at < ${cutoff} AND status IN ('COMPLETED', 'FAILED', 'CANCELLED')
      ORDER BY finished_at
      LIMIT ${limit}
      FOR UPDATE SKIP LOCKED
    ), gone AS (
      DELETE FROM jobs WHERE id IN (SELECT id FROM doomed)
      RETURNING id, owner_id, input_key, outputs
    ), messages AS (
      DELETE FROM queue_messages WHERE job_id IN (SELECT id FROM gone)
    ), uploads AS (
      DELETE FROM uploads WHERE key IN (SELECT input_key FROM gone WHERE input_key IS NOT NULL)
    )
    SELECT id::text AS id, owner_id::text AS "ownerId", input_key AS "inputKey",
      (SELECT coalesce(jsonb_agg(e->>'key'), '[]'::jsonb) FROM jsonb_array_elements(outputs) e
       WHERE e->>'key' IS NOT NULL) AS "outputKeys"
    FROM gone`;
}

/** What `pruneFinished` would delete with this cutoff: how many jobs, and the oldest's end. */
export async function countPrunable(db: Db, cutoff: Date): Promise<{ jobs: number; oldest: Date | null }> {
  const [row] = await db.$queryRaw<{ jobs: bigint; oldest: Date | null }[]>`
    SELECT count(*) AS jobs, min(finished_at) AS oldest FROM jobs
    WHERE finished_at < ${cutoff} AND status IN ('COMPLETED', 'FAILED', 'CANCELLED')`;
  return { jobs: Number(row!.jobs), oldest: row!.oldest };
}
