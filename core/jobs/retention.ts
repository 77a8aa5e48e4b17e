import type { Logger } from 'pino';
import type { BlobStore } from '../blobs/blob-store.js';
import { runPeriodically, type Periodic } from '../periodic.js';
import type { JobStore } from './job-store.js';

/** Jobs deleted per statement: each batch holds its locks for moments (see store/prune.ts). */
export const PRUNE_BATCH = 200;
/** How often a process with a reaper runs retention (JOBS_RETENTION_DAYS). */
export const RETENTION_INTERVAL_MS = 60 * 60 * 1000;

export interface PruneResult {
  dryRun: boolean;
  /** Jobs that finished before this moment are (or would be) deleted. */
  cutoff: Date;
  /** Jobs deleted (or, in a dry run, that would be). */
  jobs: number;
  /** Input files deleted from the blob store (0 in a dry run). */
  inputs: number;
  /** Output files deleted from the blob store (0 in a dry run). */
  outputs: number;
  /** When the oldest of them finished (dry run only). */
  oldest?: Date | null;
}

/**
 * Retention: deletes finished jobs older than a cutoff with everything they own (log lines,
 * queue messages, input and output files), in batches of PRUNE_BATCH so the API keeps answering while a
 * large backlog goes. Blobs are removed after their rows' batch commits: a crash in between
 * leaves an unreferenced file (the S3 lifecycle rule or a later sweep's concern), never a job
 * whose input is gone.
 */
export class RetentionService {
  constructor(private readonly deps: { store: JobStore; blobs: BlobStore; logger: Logger }) {}

  async prune(opts: { olderThanMs: number; dryRun?: boolean; batch?: number }): Promise<PruneResult> {
    const cutoff = new Date(Date.now() - opts.olderThanMs);
    if (opts.dryRun) {
      const { jobs, oldest } = await this.deps.store.countPrunable(cutoff);
      return { dryRun: true, cutoff, jobs, inputs: 0, outputs: 0, oldest };
    }
    let jobs = 0;
    let inputs = 0;
    let outputs = 0;
    for (;;) {
      const batch = await this.deps.store.prune(cutoff, opts.batch ?? PRUNE_BATCH);
      jobs += batch.length;
      for (const key of batch.map((j) => j.inputKey).filter((k): k is string => k !== null)) {
        try {
          await this.deps.blobs.delete(key);
          inputs++;
        } catch (err) {
          this.deps.logger.warn({ err, key }, 'retention: an input file could not be deleted');
        }
      }
      for (const key of batch.flatMap((j) => j.outputKeys)) {
        try {
          await this.deps.blobs.delete(key);
          outputs++;
        } catch (err) {
          this.deps.logger.warn({ err, key }, 'retention: an output file could not be deleted');
        }
      }
      if (batch.length < (opts.batch ?? PRUNE_BATCH)) break;
      // Let requests waiting on this process's event loop (and pool) go first.
      await new Promise((r) => setImmediate(r));
    }
    return { dryRun: false, cutoff, jobs, inputs, outputs };
  }
}

/**
 * Runs retention every RETENTION_INTERVAL_MS (first soon after start) in a process that runs a
 * reaper: `jobs server` and `jobs worker`. Several processes at once are fine (rows are taken
 * with SKIP LOCKED). A no-op when `days` is 0 (keep jobs forever).
 */
export function startRetention(
  service: RetentionService,
  opts: { days: number; logger: Logger; intervalMs?: number },
): Periodic {
  if (opts.days <= 0) return { stop: async () => {} };
  return runPeriodically(
    'retention',
    async () => {
      const r = await service.prune({ olderThanMs: opts.days * 86_400_000 });
      if (r.jobs > 0)
        opts.logger.info({ ...r, days: opts.days }, `retention: deleted ${r.jobs} finished jobs`);
    },
    { intervalMs: opts.intervalMs ?? RETENTION_INTERVAL_MS, logger: opts.logger },
  );
}
