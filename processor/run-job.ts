import { randomUUID } from 'node:crypto';
import type { Readable } from 'node:stream';
import type { Logger } from 'pino';
import type { BlobStore } from '../core/blobs/blob-store.js';
import { checkedInput } from '../core/blobs/multipart-uploads.js';
import { inputReadStarted } from '../core/blobs/stream-buffers.js';
import {
  gaveUpReason,
  startedLine,
  type Attempt,
  type JobStore,
  type Lease,
  type Progress,
} from '../core/jobs/job-store.js';
import { failpoint } from '../core/failpoints.js';
import { OVER_LIMIT_DELAY_SECONDS } from '../core/jobs/scheduling.js';
import { JobFailure, type JobHandler } from './handler.js';
import { JobLogWriter } from './job-log-writer.js';
import { AttemptOutputs } from './job-outputs.js';

export interface RunnerDeps {
  store: JobStore;
  blobs: BlobStore;
  findHandler(type: string): JobHandler | undefined;
  logger: Logger;
  /** How long a claim lasts without a heartbeat; a crashed worker's job is free again after it. */
  leaseSeconds: number;
  /** Heartbeat period (default leaseSeconds / 3, at most 1 s so a cancel request is seen quickly). */
  heartbeatMs?: number;
  /** Extends the delivery's visibility while the job runs (SQS ChangeMessageVisibility). */
  extendDelivery?(receiptHandle: string, seconds: number): Promise<void>;
  /**
   * The queue's maxReceiveCount: the delivery that reaches it is the last the queue will make, so a
   * job whose earlier attempts all died with their worker is given up on then (default: unlimited).
   */
  maxReceives?: number;
  /** Backoff of retryable failures: base * 2^(attempt-1), capped, times a jitter in [0.5, 1]. */
  retryBackoff?: { baseMs: number; maxMs: number };
}

/** Default backoff: 2 s, 4 s, 8 s … up to 15 minutes (before jitter). */
export const DEFAULT_RETRY_BACKOFF = { baseMs: 2_000, maxMs: 15 * 60_000 };

/** The delay before retry number `attempt` (1 after the first failure), in seconds. */
export function backoffSeconds(
  attempt: number,
  backoff = DEFAULT_RETRY_BACKOFF,
  random = Math.random,
): number {
  const capped = Math.min(backoff.maxMs, backoff.baseMs * 2 ** Math.max(0, attempt - 1));
  // Jitter spreads retries of jobs that failed together (an outage) instead of retrying in step.
  return (capped * (0.5 + random() / 2)) / 1000;
}

export { gaveUpReason };

export interface Delivery {
  jobId: string;
  /** The queue message's id (stable across its deliveries; SQS's MessageId). */
  messageId?: string;
  receiptHandle?: string;
  /** ApproximateReceiveCount: 1 on the first delivery. */
  receiveCount?: number;
  /**
   * Set when the message was received together with the claim of its job (the database queue:
   * JobStore.claimNext): the attempt, or null when the job was not claimable. Unset: claim now.
   */
  claimed?: Attempt | null;
  /**
   * Called once the handler succeeded and only the outcome's write is left: the worker may take
   * its next job while that write is in flight (processor/queue-worker.ts).
   */
  onHandlerDone?(): void;
}

/**
 * `done`: acknowledge the message. `acked`: done, and already acknowledged with the job's outcome
 * (a queue in the job database). `retry`: leave it to be delivered again. `dead-letter`: the job
 * was given up on (FAILED); move the message to the dead letters.
 */
export type Outcome = 'done' | 'acked' | 'retry' | 'dead-letter';

/** The worker is stopping (shutdown grace over, Lambda deadline): release the job. */
class ReleasedError extends Error {}
/** The job's owner asked to cancel it. */
class CancelRequestedError extends Error {}

/**
 * Runs one delivery of a job: claims it (only from PENDING, or from RUNNING whose lease expired),
 * runs its handler with a heartbeat that keeps the lease and hears cancel requests, and records
 * the outcome through the job store, every write guarded by the attempt's lease. `stop` (a Lambda
 * deadline or a worker shutdown) releases the job back to PENDING for another run.
 */
export async function runJob(deps: RunnerDeps, delivery: Delivery, stop?: AbortSignal): Promise<Outcome> {
  const { store } = deps;
  const attempt = delivery.claimed !== undefined ? delivery.claimed : await claim(deps, delivery, stop);
  if (attempt === 'stopping') return 'retry';
  if (attempt === 'over-limit') return putOff(deps, delivery);
  if (!attempt) return duplicate(deps, delivery);
  const { job, lease } = attempt;
  const log = new JobLogWriter(store, job.id, { logger: deps.logger });
  if (stop?.aborted) {
    // Received with its claim as the worker began to stop: give the job back untouched.
    await store.release(lease, []);
    return 'retry';
  }
  // A queue in the job database acknowledges the message with the outcome's transaction.
  const ended: Outcome = store.acknowledgesWithOutcome(lease) ? 'acked' : 'done';

  // Attempts that died with their worker (killed, out of memory, a crash) are not seen by any
  // catch: each shows up here as a claim of an expired RUNNING job.
  const crashed = job.attempts - 1;
  if (job.prevStatus === 'RUNNING' && job.cancelRequested) {
    log.warn('cancelled: its worker stopped before it could stop the handler');
    await store.cancelled(lease, await log.drain());
    return ended;
  }
  // Give up when attempts are used up, or when this is the queue's last delivery.
  const lastDelivery = deps.maxReceives !== undefined && (delivery.receiveCount ?? 1) >= deps.maxReceives;
  if (job.attempts > job.maxAttempts || (job.prevStatus === 'RUNNING' && lastDelivery)) {
    const reason = gaveUpReason(crashed);
    log.error(reason);
    await store.giveUp(
      lease,
      { reason, attempts: crashed, messageId: delivery.messageId },
      await log.drain(),
    );
    return 'dead-letter';
  }
  if (job.prevStatus === 'RUNNING') {
    log.warn(
      `lease of attempt ${crashed} expired (its worker stopped, hung or was cut off); retrying, attempt ${job.attempts} of ${job.maxAttempts}`,
    );
  }
  const handler = deps.findHandler(job.type);
  if (!handler) {
    const reason = `no handler for job type "${job.type}" in this processor`;
    log.error(reason);
    await store.fail(lease, { error: reason }, await log.drain());
    return ended;
  }
  const params = handler.params.safeParse(job.params);
  if (!params.success) {
    const reason = `invalid params: ${params.error.issues[0].path.join('.')}: ${params.error.issues[0].message}`;
    log.error(reason);
    await store.fail(lease, { error: reason }, await log.drain());
    return ended;
  }
  return runHandler(deps, attempt, handler, params.data, log, delivery, ended, stop);
}

async function runHandler(
  deps: RunnerDeps,
  { job, lease, startedLogged }: Attempt,
  handler: JobHandler,
  params: unknown,
  log: JobLogWriter,
  delivery: Delivery,
  ended: Outcome,
  stop?: AbortSignal,
): Promise<Outcome> {
  const { store } = deps;
  const abort = new AbortController();
  const onStop = () => abort.abort(new ReleasedError('the worker is stopping'));
  stop?.addEventListener('abort', onStop, { once: true });
  if (stop?.aborted) onStop();
  const progress = new ProgressWriter(store, lease);
  const heartbeat = startHeartbeat(deps, lease, delivery.receiptHandle, (reason) => abort.abort(reason));
  const started = Date.now();
  let input: Readable | null = null;
  const outputs = new AttemptOutputs(deps, lease);
  if (!startedLogged) log.info(startedLine(job.attempts, job.maxAttempts));
  try {
    if (job.prevStatus === 'RUNNING') {
      // The previous attempt died with its worker, perhaps mid-write: its outputs go (best
      // effort: what stays is unlisted, and the next output this attempt writes drops it too).
      await AttemptOutputs.discardAll(deps, lease).catch((err: unknown) => {
        deps.logger.warn({ err, jobId: job.id }, "could not discard the previous attempt's outputs");
      });
    }
    if (job.input) {
      input = await deps.blobs.get(job.input.key);
      inputReadStarted();
      // A direct upload to S3 was never hashed by the API host: this read is the check (a
      // mismatch fails the handler's read at the end of the input). A store that hashed every
      // blob as it wrote it (the directory) is not read twice over.
      if (job.input.sha256 && !deps.blobs.hashedOnWrite) input = checkedInput(input, job.input.sha256);
    }
    const result = await handler.run({
      jobId: job.id,
      params,
      input,
      inputInfo: job.input
        ? { name: job.input.name, size: job.input.size, sha256: job.input.sha256 ?? '' }
        : null,
      log,
      progress: (done, total) => progress.set(done, total),
      signal: abort.signal,
      attempt: job.attempts,
      outputs,
    });
    if (outputs.used) await outputs.settle();
    failpoint('after-handler');
    heartbeat.stop();
    if (abort.signal.reason instanceof CancelRequestedError) {
      log.warn('cancel requested, but the handler had already finished: completed');
    }
    log.info(`completed in ${seconds(started)} s`);
    delivery.onHandlerDone?.();
    // The final progress goes with the outcome.
    await store.complete(lease, { result, progress: progress.take() }, await log.drain());
    failpoint('before-ack');
    return ended;
  } catch (err) {
    heartbeat.stop();
    await progress.flush().catch(() => {});
    if (outputs.used) await outputs.abort();
    const reason: unknown = abort.signal.reason;
    if (reason instanceof ReleasedError) {
      log.warn(`attempt ${job.attempts} interrupted: ${reason.message}; the job goes back in line`);
      await discardOutputs(deps, outputs);
      await store.release(lease, await log.drain());
      return 'retry';
    }
    if (reason instanceof CancelRequestedError) {
      log.warn(`stopped: ${reason.message}`);
      await store.cancelled(lease, await log.drain());
      return ended;
    }
    if (abort.signal.aborted) {
      // Taken over (the lease was lost): the row is no longer ours; only the log is written.
      log.warn(`stopped: ${(reason as Error).message}`);
      await store.appendLogs(job.id, await log.drain());
      return 'done';
    }
    const message = errorMessage(err);
    const retryable = (err as { retryable?: unknown }).retryable === true && !(err instanceof JobFailure);
    if (retryable && job.attempts < job.maxAttempts) {
      const delay = backoffSeconds(job.attempts, deps.retryBackoff);
      log.warn(
        `attempt ${job.attempts} of ${job.maxAttempts} failed; retrying in ${delay.toFixed(1)} s: ${message}`,
      );
      await discardOutputs(deps, outputs);
      await store.requeue(lease, { error: message, delaySeconds: delay }, await log.drain());
      return ended;
    }
    if (retryable) {
      // Retryable, but no attempts left: given up on like a job whose workers kept dying.
      const reason = `failed after ${job.attempts} attempt${job.attempts === 1 ? '' : 's'}: ${message}`;
      log.error(reason);
      await store.giveUp(lease, { reason, messageId: delivery.messageId }, await log.drain());
      return 'dead-letter';
    }
    log.error(`failed: ${message}`);
    await store.fail(
      lease,
      { error: message, result: err instanceof JobFailure ? err.data : undefined },
      await log.drain(),
    );
    if (!(err instanceof JobFailure)) deps.logger.warn({ err, jobId: job.id }, 'job handler threw');
    return ended;
  } finally {
    stop?.removeEventListener('abort', onStop);
    heartbeat.stop();
    input?.destroy();
  }
}

/**
 * The attempt failed and the job runs again: its outputs go. Best effort: should the database be
 * down, the next attempt's first output drops them (store/outputs.ts beginOutput).
 */
async function discardOutputs(deps: RunnerDeps, outputs: AttemptOutputs): Promise<void> {
  await outputs.discard().catch((err: unknown) => {
    deps.logger.warn({ err }, "could not discard a failed attempt's outputs");
  });
}

/**
 * Claims the delivery's job (a queue whose receive did not claim it: SQS). 'stopping' when the
 * worker is stopping (deadline passed, shutting down): nothing is claimed.
 */
async function claim(deps: RunnerDeps, delivery: Delivery, stop?: AbortSignal) {
  if (stop?.aborted) return 'stopping' as const;
  // The message must stay hidden longer than the lease this delivery may take: were it to reappear
  // first (its worker dead), the redelivery would find the job still leased, be set aside, and
  // spend one of the queue's receives. Extended before the claim, so no kill can fall in between.
  if (delivery.receiptHandle && deps.extendDelivery) {
    await deps.extendDelivery(delivery.receiptHandle, visibilityFor(deps.leaseSeconds)).catch(() => {});
  }
  failpoint('before-claim');
  const attempt = await deps.store.claimWithinLimits(delivery.jobId, randomUUID(), deps.leaseSeconds);
  if (attempt === 'over-limit') return attempt;
  return attempt && { ...attempt, lease: { ...attempt.lease, receipt: delivery.receiptHandle } };
}

/**
 * A delivery whose job would put its type or owner over a concurrency limit (JobStore.claim): the
 * job stays PENDING, untouched, and is looked at again OVER_LIMIT_DELAY_SECONDS from now.
 */
async function putOff(deps: RunnerDeps, { jobId }: Delivery): Promise<Outcome> {
  // A fresh message, and this delivery acknowledged: waiting must not spend the receives that
  // lead to the dead letters.
  await deps.store.putOff(jobId, OVER_LIMIT_DELAY_SECONDS);
  return 'done';
}

/**
 * A delivery whose job could not be claimed: a duplicate, a job a live attempt holds, or a
 * finished one. A job still RUNNING under someone's live lease keeps this message: should that
 * worker die, the message is how the job gets run again. The message of a job given up on goes
 * to the dead letters (whoever gave up: this is how the reaper's give-ups reach them), once per
 * job: a second message of the same job (the reaper requeued it while this one was hidden) is
 * done with, like any other finished job's message.
 */
async function duplicate(deps: RunnerDeps, { jobId, messageId }: Delivery): Promise<Outcome> {
  const state = await deps.store.state(jobId);
  if (!state) {
    deps.logger.warn({ jobId }, 'message for a job that does not exist; dropped');
    return 'done';
  }
  await deps.store.log(jobId, 'info', `duplicate delivery ignored (job is ${state.status})`);
  if (state.status === 'RUNNING') return 'retry';
  if (state.status !== 'FAILED' || !state.deadLettered) return 'done';
  // Without a message id (a caller outside a queue) there is no second copy to tell apart.
  const move = messageId === undefined || (await deps.store.claimDeadLetterMove(jobId, messageId));
  return move ? 'dead-letter' : 'done';
}

function startHeartbeat(
  deps: RunnerDeps,
  lease: Lease,
  receiptHandle: string | undefined,
  onStop: (reason: Error) => void,
) {
  const every = deps.heartbeatMs ?? Math.min(1000, (deps.leaseSeconds * 1000) / 3);
  let lastExtend = Date.now();
  let busy = false;
  let cancelSeen = false;
  const timer = setInterval(async () => {
    if (busy) return;
    busy = true;
    try {
      const beat = await deps.store.heartbeat(lease, deps.leaseSeconds);
      if (!beat.held) return onStop(new Error(`the lease was lost (the job is ${beat.status ?? 'gone'})`));
      if (beat.cancelRequested && !cancelSeen) {
        // Keep beating: the lease must hold until the handler has stopped and CANCELLED is written.
        cancelSeen = true;
        onStop(new CancelRequestedError('the job was cancelled'));
      }
      if (receiptHandle && deps.extendDelivery && Date.now() - lastExtend > (deps.leaseSeconds * 1000) / 3) {
        lastExtend = Date.now();
        await deps.extendDelivery(receiptHandle, visibilityFor(deps.leaseSeconds));
      }
    } catch (err) {
      // A missed beat is not fatal: the lease is long enough to survive a few.
      deps.logger.warn({ err, jobId: lease.jobId }, 'heartbeat failed');
    } finally {
      busy = false;
    }
  }, every);
  return { stop: () => clearInterval(timer) };
}

/** Keeps the latest progress and writes it at most every 250 ms. */
class ProgressWriter {
  private latest?: Progress;
  private written?: Progress;
  private timer?: NodeJS.Timeout;
  private writing: Promise<void> = Promise.resolve();

  constructor(
    private readonly store: JobStore,
    private readonly lease: Lease,
  ) {}

  set(done: number, total?: number | null): void {
    this.latest = { done, total: total ?? null };
    this.timer ??= setTimeout(() => void this.flush().catch(() => {}), 250);
  }

  /**
   * The latest progress not written yet, for the caller's final write (and no write of its own).
   * A write still in flight cannot land over it: it is guarded by the lease, which the final
   * write clears.
   */
  take(): Progress | undefined {
    clearTimeout(this.timer);
    this.timer = undefined;
    const p = this.latest;
    if (!p || (this.written && this.written.done === p.done && this.written.total === p.total))
      return undefined;
    this.written = p;
    return p;
  }

  flush(): Promise<void> {
    const p = this.take();
    if (!p) return this.writing;
    this.writing = this.writing.then(async () => {
      // Progress is advisory: a write lost to a database blip is superseded by the next one and
      // must not fail the job.
      await this.store.progress(this.lease, p).catch(() => {
        this.written = undefined;
      });
    });
    return this.writing;
  }
}

function seconds(since: number): string {
  return ((Date.now() - since) / 1000).toFixed(2);
}

function errorMessage(err: unknown): string {
  if (err instanceof Error) return err.message || err.name;
  return String(err);
}

/** A delivery's visibility while its job runs: the lease plus the time between visibility beats. */
export function visibilityFor(leaseSeconds: number): number {
  return leaseSeconds + Math.ceil(leaseSeconds / 3) + 1;
}
