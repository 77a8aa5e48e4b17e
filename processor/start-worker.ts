import type { Logger } from 'pino';
import type { Config } from '../core/config.js';
import { armFailpoints } from '../core/failpoints.js';
import type { Runtime } from '../core/runtime.js';
import { findHandler } from './handlers/index.js';
import { createProcessor, type ProcessBatch } from './processor.js';
import { QueueWorker } from './queue-worker.js';

/**
 * Starts the processor fed from the configured queue: the embedded worker of `jobs server` and
 * `jobs worker` alike. Stop it with `worker.stop(graceMs)`.
 */
export function startQueueWorker(opts: {
  runtime: Runtime;
  config: Config;
  logger: Logger;
  concurrency: number;
}): QueueWorker {
  const { runtime, config, logger } = opts;
  const process = processorFor(runtime, config, logger);
  const worker = new QueueWorker(runtime.queue, process, { concurrency: opts.concurrency, logger });
  worker.start();
  return worker;
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
  });
}
