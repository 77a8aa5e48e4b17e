import type { Logger } from 'pino';
import type { BlobStore } from '../blobs/blob-store.js';
import { supportsMultipart } from '../blobs/multipart-uploads.js';
import type { Config } from '../config.js';
import type { Prisma } from '../db/database.js';
import { UploadsService, type SweepResult } from './uploads-service.js';

export interface UploadSweeperOptions {
  /** Anything with UploadsService's sweepExpired(). */
  uploads: { sweepExpired(): Promise<SweepResult> };
  /** Time between the end of one sweep and the start of the next (JOBS_UPLOAD_SWEEP_INTERVAL_SECONDS). */
  intervalMs: number;
  logger: Logger;
}

/**
 * Sweeps expired direct uploads now and then every `intervalMs`, in the background (the timer does
 * not keep the process alive). A failed sweep is logged and tried again at the next tick.
 * `stop()` cancels the next sweep and waits for one in progress.
 *
 * @example
 * const sweeper = startUploadSweeper({ uploads, intervalMs: 600_000, logger });
 * // … on shutdown:
 * await sweeper.stop();
 */
export function startUploadSweeper(opts: UploadSweeperOptions): { stop(): Promise<void> } {
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<void> | undefined;

  const tick = () => {
    running = (async () => {
      try {
        const r = await opts.uploads.sweepExpired();
        if (r.aborted || r.removed) {
          opts.logger.info(r, 'swept expired uploads');
        }
        if (r.failed) opts.logger.warn(r, 'some expired uploads could not be removed; retrying later');
      } catch (err) {
        opts.logger.warn({ err }, 'sweeping expired uploads failed; retrying later');
      }
    })();
    void running.then(() => {
      running = undefined;
      if (!stopped) schedule();
    });
  };
  const schedule = () => {
    timer = setTimeout(tick, opts.intervalMs);
    timer.unref();
  };

  // The first sweep soon after start (not during it), then one per interval.
  timer = setTimeout(tick, Math.min(opts.intervalMs, 5_000));
  timer.unref();
  return {
    async stop() {
      stopped = true;
      clearTimeout(timer);
      await running;
    },
  };
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
}): { stop(): Promise<void> } {
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
