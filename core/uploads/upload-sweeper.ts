import type { Logger } from 'pino';
import type { BlobStore } from '../blobs/blob-store.js';
import { supportsMultipart } from '../blobs/multipart-uploads.js';
import type { Config } from '../config.js';
import type { Prisma } from '../db/database.js';
import { runPeriodically, type Periodic } from '../periodic.js';
import { UploadsService, type SweepResult } from './uploads-service.js';

export interface UploadSweeperOptions {
  /** Anything with UploadsService's sweepExpired(). */
  uploads: { sweepExpired(): Promise<SweepResult> };
  /** Time between the end of one sweep and the start of the next (JOBS_UPLOAD_SWEEP_INTERVAL_SECONDS). */
  intervalMs: number;
  logger: Logger;
}

/**
 * Sweeps expired direct uploads soon after start and then every `intervalMs`, in the background
 * (core/periodic.ts). A failed sweep is logged and tried again at the next tick. `stop()` cancels
 * the next sweep and waits for one in progress.
 *
 * @example
 * const sweeper = startUploadSweeper({ uploads, intervalMs: 600_000, logger });
 * // … on shutdown:
 * await sweeper.stop();
 */
export function startUploadSweeper(opts: UploadSweeperOptions): Periodic {
  return runPeriodically(
    'sweeping expired uploads',
    async () => {
      const r = await opts.uploads.sweepExpired();
      if (r.aborted || r.removed) opts.logger.info(r, 'swept expired uploads');
      if (r.failed) opts.logger.warn(r, 'some expired uploads could not be removed; retrying later');
    },
    { intervalMs: opts.intervalMs, logger: opts.logger },
  );
}

/**
 * The sweeper of a server process, from its configuration: what `jobs server` starts. A no-op
 * when the blob store has no direct uploads.
 */
export function startUploadSweeperFor(deps: {
  prisma: Prisma;
  blobs: BlobStore;
  config: Pick<Config, 'maxUploadBytes' | 'maxOpenUploads' | 'uploadSweepIntervalSeconds'>;
  logger: Logger;
}): Periodic {
  if (!supportsMultipart(deps.blobs)) return { stop: async () => {} };
  const uploads = new UploadsService(deps.prisma, deps.blobs, {
    maxUploadBytes: deps.config.maxUploadBytes,
    maxOpenUploads: deps.config.maxOpenUploads,
  });
  return startUploadSweeper({
    uploads,
    intervalMs: deps.config.uploadSweepIntervalSeconds * 1000,
    logger: deps.logger,
  });
}
