import type { Db, Lease } from './types.js';

// An attempt's outputs in `jobs.outputs` (entries described in core/jobs/outputs.ts). Every write
// is guarded by the attempt's lease, like its progress: an attempt that lost its job records
// nothing. None of these runs for a job whose handler writes no output.

/**
 * Records that the attempt begins writing output `name`, before any byte is written, and returns
 * the blob key the server chose for it: `outputs/<owner>/<job>/<lease token>/<name>`. Entries of
 * earlier attempts still in the row (unlisted by a retry: store/retry.ts) are dropped here and
 * their keys returned for the caller to delete. Undefined when the attempt no longer holds the job.
 */
export async function beginOutput(
  db: Db,
  lease: Lease,
  out: { name: string; contentType: string },
): Promise<{ key: string; staleKeys: string[] } | undefined> {
  const [row] = await db.$queryRaw<{ key: string; stale: string[] }[]>`
    WITH cur AS (
      SELECT id, owner_id, outputs FROM jobs
      WHERE id = ${lease.jobId}::uuid AND lease_token = ${lease.token}::uuid AND status = 'RUNNING'
      FOR UPDATE
    ), entry AS (
      SELECT jsonb_build_object('name', ${out.name}::text, 'contentType', ${out.contentType}::text,
        'token', ${lease.token}::text,
        'key', 'outputs/' || cur.owner_id || '/' || cur.id || '/' || ${lease.token}::text || '/' || ${out.name}::text
      ) AS e FROM cur
    )
    UPDATE jobs SET outputs = coalesce((
        SELECT jsonb_agg(x.e ORDER BY x.i) FROM jsonb_array_elements(cur.outputs) WITH ORDINALITY x(e, i)
        WHERE x.e->>'token' = ${lease.token}::text
      ), '[]'::jsonb) || (SELECT jsonb_build_array(e) FROM entry)
    FROM cur WHERE jobs.id = cur.id
    RETURNING (SELECT e->>'key' FROM entry) AS key,
      (SELECT coalesce(jsonb_agg(x.e->>'key'), '[]'::jsonb) FROM jsonb_array_elements(cur.outputs) x(e)
       WHERE x.e->>'token' IS DISTINCT FROM ${lease.token}::text) AS stale`;
  return row && { key: row.key, staleKeys: row.stale };
}

/** Marks output `key` stored, with its size and SHA-256: from now on the job lists it. */
export async function finishOutput(
  db: Db,
  lease: Lease,
  out: { key: string; size: number; sha256: string },
): Promise<boolean> {
  const n = await db.$executeRaw`
    UPDATE jobs SET outputs = (
        SELECT jsonb_agg(CASE WHEN x.e->>'key' = ${out.key}::text
          THEN x.e || jsonb_build_object('size', ${out.size}::bigint, 'sha256', ${out.sha256}::text)
          ELSE x.e END ORDER BY x.i)
        FROM jsonb_array_elements(outputs) WITH ORDINALITY x(e, i)
      ), updated_at = now()
    WHERE id = ${lease.jobId}::uuid AND lease_token = ${lease.token}::uuid AND status = 'RUNNING'
      AND outputs @> jsonb_build_array(jsonb_build_object('key', ${out.key}::text))`;
  return n > 0;
}

/**
 * Removes output entries from the job and returns their keys, for the caller to delete the blobs:
 * `mine` those of this attempt (it failed and the job will run again), `all` every entry (the
 * previous attempt died with its worker, perhaps mid-write). Empty when the attempt no longer holds
 * the job or there was nothing.
 */
export async function discardOutputs(db: Db, lease: Lease, which: 'mine' | 'all'): Promise<string[]> {
  const all = which === 'all';
  const [row] = await db.$queryRaw<{ keys: string[] }[]>`
    WITH cur AS (
      SELECT id, outputs FROM jobs
      WHERE id = ${lease.jobId}::uuid AND lease_token = ${lease.token}::uuid AND status = 'RUNNING'
        AND outputs <> '[]'::jsonb
      FOR UPDATE
    )
    UPDATE jobs SET outputs = CASE WHEN ${all} THEN '[]'::jsonb ELSE coalesce((
        SELECT jsonb_agg(x.e ORDER BY x.i) FROM jsonb_array_elements(cur.outputs) WITH ORDINALITY x(e, i)
        WHERE x.e->>'token' IS DISTINCT FROM ${lease.token}::text
      ), '[]'::jsonb) END
    FROM cur WHERE jobs.id = cur.id
    RETURNING (SELECT coalesce(jsonb_agg(x.e->>'key'), '[]'::jsonb) FROM jsonb_array_elements(cur.outputs) x(e)
       WHERE ${all} OR x.e->>'token' = ${lease.token}::text) AS keys`;
  return row?.keys ?? [];
}
