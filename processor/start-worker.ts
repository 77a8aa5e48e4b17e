import type { Logger } from 'pino';
import type { Config } from '../core/config.js';
import { armFailpoints } from '../core/failpoints.js';
import type { Runtime } from '../core/runtime.js';
import { findHandler } from './handlers/index.js';
import { createProcessor, type ProcessBatch } from './processor.js';
import { QueueWorker } from './queue-worker.js';
import { Reaper } from './reaper.js';

/** A running worker: the queue consumer and the lease reaper beside it. */
export interface StartedWorker {
  /** Stops taking work; running jobs get `graceMs` to finish, then are released. */
  stop(graceMs?: number): Promise<void>;
}

/**
 * Starts the processor fed from the configured queue, and the reaper that puts jobs with long
 * expired leases back in line: the embedded worker of `jobs server` and `jobs worker` alike.
 * Stop it with `worker.stop(graceMs)`.
 */
export function startQueueWorker(opts: {
  runtime: Runtime;
  config: Config;
  logger: Logger;
  concurrency: number;
}): StartedWorker {
  const { runtime, config, logger } = opts;
  const process = processorFor(runtime, config, logger);
  const worker = new QueueWorker(runtime.queue, process, { concurrency: opts.concurrency, logger });
  worker.start();
  const reaper = startReaper(runtime, config, logger);
  return {
    async stop(graceMs) {
      await reaper.stop();
      await worker.stop(graceMs);
    },
  };
}

/**
 * Starts the lease reaper alone: `jobs server --no-worker` runs it too, so a deployment whose
 * processor is the Lambda (no `jobs worker`) still has one.
 */
export function startReaper(runtime: Runtime, config: Config, logger: Logger): Reaper {
  const reaper = new Reaper({
    prisma: runtime.db.prisma,
    queue: runtime.queue,
    logger,
    leaseSeconds: config.visibilityTimeoutSeconds,
  });
  reaper.start();
  return reaper;
}

/** The processor over a runtime's adapters: what Lambda, `jobs worker` and `jobs server` run. */
export function processorFor(runtime: Runtime, config: Config, logger: Logger): ProcessBatch {
  armFailpoints(config.failpoints); // test-only; a no-op unless JOBS_FAILPOINTS is set
  return createProcessor({
    prisma: runtime.db.prisma,
    blobs: runtime.blobs,
    findHandler,
    logger,
    leaseSeconds: config.visibilityTimeoutSeconds,
    extendDelivery: (receipt, seconds) => runtime.queue.changeVisibility(receipt, seconds),
    deadLetter: (receipt, jobId) => runtime.queue.deadLetter(receipt, jobId),
    maxReceives: config.maxReceives,
    queue: runtime.queue,
    retryBackoff: { baseMs: config.retryBaseMs, maxMs: config.retryMaxMs },
  });
}
