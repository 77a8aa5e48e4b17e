import type { JobStore } from '../core/jobs/job-store.js';
import type { JobQueue } from '../core/queue/job-queue.js';
import { failpoint } from '../core/failpoints.js';
import type { Receive } from './queue-worker.js';
import { visibilityFor } from './run-job.js';

/**
 * The worker's receive for a queue in the job database: the queue's wait (NOTIFY wake-ups, the
 * idle poll) around the job store's claimNext, which receives the messages and claims their jobs
 * in one statement, each message hidden as long as `runJob` would have hidden it before its own
 * claim. Undefined for any other queue (SQS): the worker receives, then the processor claims.
 */
export function claimingReceive(
  queue: Pick<JobQueue, 'receiveWith'>,
  store: Pick<JobStore, 'claimNext'>,
  leaseSeconds: number,
): Receive | undefined {
  const receiveWith = queue.receiveWith?.bind(queue);
  if (!receiveWith) return undefined;
  const claim = (max: number) => {
    failpoint('before-claim');
    return store.claimNext({ max, leaseSeconds, visibilitySeconds: visibilityFor(leaseSeconds) });
  };
  return (opts) => receiveWith(claim, opts);
}
