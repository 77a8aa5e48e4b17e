import { randomUUID } from 'node:crypto';
import type { Readable } from 'node:stream';
import type { Logger } from 'pino';
import type { BlobStore } from '../core/blobs/blob-store.js';
import { checkedInput } from '../core/blobs/multipart-uploads.js';
import type { Prisma } from '../core/db/database.js';
import type { JobQueue } from '../core/queue/job-queue.js';
import { Prisma as P } from '../core/db/generated/client.js';
import { retryTransient } from '../core/db/transient.js';
import { failpoint } from '../core/failpoints.js';
import { capError, capResult } from '../core/jobs/limits.js';
import { JobFailure, type JobHandler } from './handler.js';
import { JobLogWriter } from './job-log-writer.js';

export interface RunnerDeps {
  prisma: Prisma;
  blobs: BlobStore;
  findHandler(type: string): JobHandler | undefined;
  logger: Logger;
  /** How long a claim lasts without a heartbeat; a crashed worker's job is free again after it. */
  leaseSeconds: number;
  /** Heartbeat period (default leaseSeconds / 3, at most 1 s so cancellation is seen quickly). */
  heartbeatMs?: number;
  /** Extends the delivery's visibility while the job runs (SQS ChangeMessageVisibility). */
  extendDelivery?(receiptHandle: string, seconds: number): Promise<void>;
  /**
   * The queue's maxReceiveCount: the delivery that reaches it is the last the queue will make, so a
   * job whose earlier attempts all died with their worker is given up on then (default: unlimited).
   */
  maxReceives?: number;
  /**
   * Queues a retry of a job as a new, delayed message in the transaction that puts it back to
   * PENDING (the production path: processorFor passes the runtime's queue). Without it a retry
   * keeps the delivery and hides it for the backoff instead, which only Lambda honours (the
   * QueueWorker applies its own retry delay to a failed delivery), and the message's receive
   * count then counts retries too.
   */
  queue?: Pick<JobQueue, 'send' | 'afterCommit'>;
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

/** The error (and log line) of a job whose every attempt died with its worker or hung. */
export function gaveUpReason(attempts: number): string {
  return `gave up after ${attempts} attempt${attempts === 1 ? '' : 's'}: the worker stopped (crashed or was killed) during each of them`;
}

export interface Delivery {
  jobId: string;
  receiptHandle?: string;
  /** ApproximateReceiveCount: 1 on the first delivery. */
  receiveCount?: number;
}

/**
 * `done`: acknowledge the message. `retry`: leave it to be delivered again. `dead-letter`: the job
 * was given up on (FAILED); move the message to the dead letters.
 */
export type Outcome = 'done' | 'retry' | 'dead-letter';

interface ClaimedJob {
  /** The status before this claim: RUNNING means the previous attempt died with its worker. */
  prev_status: string;
  id: string;
  type: string;
  params: unknown;
  attempts: number;
  max_attempts: number;
  input_key: string | null;
  input_name: string | null;
  input_size: bigint | null;
  input_sha256: string | null;
}

class ReleasedError extends Error {}

/**
 * Runs one delivery of a job: claims it (only from PENDING, or from RUNNING whose lease expired),
 * runs its handler with a heartbeat that keeps the lease, and records the outcome. Every status
 * write is guarded by the claim's lease token, so a stale attempt can never overwrite a newer one.
 * `stop` (a Lambda deadline or a worker shutdown) releases the job back to PENDING for another run.
 */
export async function runJob(deps: RunnerDeps, delivery: Delivery, stop?: AbortSignal): Promise<Outcome> {
  const { prisma, leaseSeconds } = deps;
  if (stop?.aborted) return 'retry'; // stopping (deadline passed, worker shutting down): don't claim
  // The message must stay hidden longer than the lease this delivery may take: were it to reappear
  // first (its worker dead), the redelivery would find the job still leased, be set aside, and
  // spend one of the queue's receives. Extended before the claim, so no kill can fall in between.
  if (delivery.receiptHandle && deps.extendDelivery) {
    await deps.extendDelivery(delivery.receiptHandle, visibilityFor(leaseSeconds)).catch(() => {});
  }
  failpoint('before-claim');
  const token = randomUUID();
  const [job] = await prisma.$queryRaw<ClaimedJob[]>`
    WITH prev AS (SELECT id, status FROM jobs WHERE id = ${delivery.jobId}::uuid FOR UPDATE)
    UPDATE jobs
    SET status = 'RUNNING', attempts = attempts + 1, lease_token = ${token}::uuid,
        lease_expires_at = now() + make_interval(secs => ${leaseSeconds}),
        started_at = coalesce(started_at, now()), updated_at = now()
    FROM prev
    WHERE jobs.id = prev.id
      AND (jobs.status = 'PENDING' OR (jobs.status = 'RUNNING' AND jobs.lease_expires_at < now()))
    RETURNING prev.status::text AS prev_status, jobs.id, jobs.type, jobs.params, jobs.attempts,
      jobs.max_attempts, jobs.input_key, jobs.input_name, jobs.input_size, jobs.input_sha256`;
  if (!job) return ignoreDuplicate(deps, delivery.jobId);

  const log = new JobLogWriter(prisma, job.id, { logger: deps.logger });

  // The last log lines and the outcome commit together: one transaction per finished job. The
  // outcome outlives a database blip: the write is retried while the connection is down (the
  // status write is guarded by the token, so a retry after a lost reply changes nothing; the
  // last lines may then be written twice, which beats losing them).
  const finish = async (data: P.JobUpdateManyMutationInput) => {
    const lastLines = log.take();
    await retryTransient(
      () =>
        prisma.$transaction(async (tx) => {
          await log.writeIn(tx, lastLines);
          await tx.job.updateMany({
            where: { id: job.id, leaseToken: token, status: 'RUNNING' },
            data: {
              ...data,
              ...(typeof data.error === 'string' ? { error: capError(data.error) } : {}),
              leaseToken: null,
              leaseExpiresAt: null,
              updatedAt: new Date(),
            },
          });
        }),
      { what: `writing job ${job.id}'s status`, logger: deps.logger },
    );
  };

  // Attempts that died with their worker (killed, out of memory, a crash) are not seen by any
  // catch: each shows up here as a claim of an expired RUNNING job. Give up when attempts are
  // used up, or when this is the queue's last delivery, and dead-letter the message.
  const crashed = job.attempts - 1;
  const lastDelivery = deps.maxReceives !== undefined && (delivery.receiveCount ?? 1) >= deps.maxReceives;
  if (job.attempts > job.max_attempts || (job.prev_status === 'RUNNING' && lastDelivery)) {
    const reason = gaveUpReason(crashed);
    log.error(reason);
    await finish({
      status: 'FAILED',
      error: reason,
      attempts: crashed,
      finishedAt: new Date(),
      deadLetteredAt: new Date(),
    });
    return 'dead-letter';
  }
  if (job.prev_status === 'RUNNING') {
    log.warn(
      `lease of attempt ${crashed} expired (its worker stopped, hung or was cut off); retrying, attempt ${job.attempts} of ${job.max_attempts}`,
    );
  }
  const handler = deps.findHandler(job.type);
  if (!handler) {
    const reason = `no handler for job type "${job.type}" in this processor`;
    log.error(reason);
    await finish({ status: 'FAILED', error: reason, finishedAt: new Date() });
    return 'done';
  }
  const params = handler.params.safeParse(job.params);
  if (!params.success) {
    const reason = `invalid params: ${params.error.issues[0].path.join('.')}: ${params.error.issues[0].message}`;
    log.error(reason);
    await finish({ status: 'FAILED', error: reason, finishedAt: new Date() });
    return 'done';
  }

  const abort = new AbortController();
  const onStop = () => abort.abort(new ReleasedError('the worker is stopping'));
  stop?.addEventListener('abort', onStop, { once: true });
  if (stop?.aborted) onStop();
  const progress = new ProgressWriter(prisma, job.id, token);
  const heartbeat = startHeartbeat(deps, job.id, token, delivery.receiptHandle, (why) =>
    abort.abort(new Error(why)),
  );
  const started = Date.now();
  let input: Readable | null = null;
  log.info(`attempt ${job.attempts} of ${job.max_attempts} started`);
  try {
    if (job.input_key) {
      input = await deps.blobs.get(job.input_key);
      // A direct upload to S3 was never hashed by the API host: this read is the check (a
      // mismatch fails the handler's read at the end of the input). A store that hashed every
      // blob as it wrote it (the directory) is not read twice over.
      if (job.input_sha256 && !deps.blobs.hashedOnWrite) input = checkedInput(input, job.input_sha256);
    }
    const result = await handler.run({
      jobId: job.id,
      params: params.data,
      input,
      inputInfo:
        job.input_key && job.input_name !== null
          ? { name: job.input_name, size: Number(job.input_size), sha256: job.input_sha256 ?? '' }
          : null,
      log,
      progress: (done, total) => progress.set(done, total),
      signal: abort.signal,
      attempt: job.attempts,
    });
    failpoint('after-handler');
    heartbeat.stop();
    log.info(`completed in ${seconds(started)} s`);
    await finish({
      ...progress.take(), // the final progress goes with the outcome
      status: 'COMPLETED',
      result: toJsonValue(result),
      error: null,
      finishedAt: new Date(),
    });
    failpoint('before-ack');
    return 'done';
  } catch (err) {
    heartbeat.stop();
    await progress.flush().catch(() => {});
    if (abort.signal.reason instanceof ReleasedError) {
      log.warn(
        `attempt ${job.attempts} interrupted: ${abort.signal.reason.message}; the job goes back in line`,
      );
      await finish({ status: 'PENDING', attempts: job.attempts - 1 });
      return 'retry';
    }
    if (abort.signal.aborted) {
      // Cancelled (or taken over): the row is no longer ours and the guarded write is a no-op.
      log.warn(`stopped: ${(abort.signal.reason as Error).message}`);
      await log.flush();
      return 'done';
    }
    const message = errorMessage(err);
    const retryable = (err as { retryable?: unknown }).retryable === true && !(err instanceof JobFailure);
    if (retryable && job.attempts < job.max_attempts) {
      const delay = backoffSeconds(job.attempts, deps.retryBackoff);
      log.warn(
        `attempt ${job.attempts} of ${job.max_attempts} failed; retrying in ${delay.toFixed(1)} s: ${message}`,
      );
      return retryLater(deps, job.id, token, log, delivery, message, delay);
    }
    if (retryable) {
      // Retryable, but no attempts left: given up on like a job whose workers kept dying.
      const reason = `failed after ${job.attempts} attempt${job.attempts === 1 ? '' : 's'}: ${message}`;
      log.error(reason);
      await finish({ status: 'FAILED', error: reason, finishedAt: new Date(), deadLetteredAt: new Date() });
      return 'dead-letter';
    }
    log.error(`failed: ${message}`);
    await finish({
      status: 'FAILED',
      error: message,
      result: err instanceof JobFailure && err.data !== undefined ? toJsonValue(err.data) : P.DbNull,
      finishedAt: new Date(),
    });
    if (!(err instanceof JobFailure)) deps.logger.warn({ err, jobId: job.id }, 'job handler threw');
    return 'done';
  } finally {
    stop?.removeEventListener('abort', onStop);
    heartbeat.stop();
    input?.destroy();
  }
}

/**
 * Puts the job back to PENDING and queues it again after `delay` seconds. With a queue, a new
 * delayed message is sent in the same transaction and this delivery is acknowledged; otherwise the
 * delivery itself is hidden for the delay and left to be delivered again.
 */
async function retryLater(
  deps: RunnerDeps,
  jobId: string,
  token: string,
  log: JobLogWriter,
  delivery: Delivery,
  error: string,
  delay: number,
): Promise<Outcome> {
  await log.flush();
  const pending = {
    status: 'PENDING' as const,
    error: capError(error),
    leaseToken: null,
    leaseExpiresAt: null,
    updatedAt: new Date(),
  };
  const queue = deps.queue;
  if (queue) {
    const queued = await deps.prisma.$transaction(async (tx) => {
      const n = await tx.job.updateMany({
        where: { id: jobId, leaseToken: token, status: 'RUNNING' },
        data: pending,
      });
      if (n.count === 0) return false; // cancelled meanwhile: nothing to retry
      await queue.send(jobId, tx, { delaySeconds: delay });
      return true;
    });
    if (queued) queue.afterCommit?.();
    return 'done';
  }
  await deps.prisma.job.updateMany({
    where: { id: jobId, leaseToken: token, status: 'RUNNING' },
    data: pending,
  });
  if (delivery.receiptHandle && deps.extendDelivery) {
    // SQS caps a visibility at 12 hours.
    await deps.extendDelivery(delivery.receiptHandle, Math.min(43_200, Math.ceil(delay))).catch(() => {});
  }
  return 'retry';
}

async function ignoreDuplicate(deps: RunnerDeps, jobId: string): Promise<Outcome> {
  const job = await deps.prisma.job.findUnique({ where: { id: jobId }, select: { status: true } });
  if (!job) {
    deps.logger.warn({ jobId }, 'message for a job that does not exist; dropped');
    return 'done';
  }
  const log = new JobLogWriter(deps.prisma, jobId);
  log.info(`duplicate delivery ignored (job is ${job.status})`);
  await log.flush();
  // A job still RUNNING under someone's live lease keeps this message: should that worker die,
  // the message is how the job gets run again. A finished job's message is done with.
  return job.status === 'RUNNING' ? 'retry' : 'done';
}

function startHeartbeat(
  deps: RunnerDeps,
  jobId: string,
  token: string,
  receiptHandle: string | undefined,
  onLost: (why: string) => void,
) {
  const every = deps.heartbeatMs ?? Math.min(1000, (deps.leaseSeconds * 1000) / 3);
  let lastExtend = Date.now();
  let busy = false;
  const timer = setInterval(async () => {
    if (busy) return;
    busy = true;
    try {
      const n = await deps.prisma.$executeRaw`
        UPDATE jobs SET lease_expires_at = now() + make_interval(secs => ${deps.leaseSeconds})
        WHERE id = ${jobId}::uuid AND lease_token = ${token}::uuid AND status = 'RUNNING'`;
      if (n === 0) {
        const row = await deps.prisma.job.findUnique({ where: { id: jobId }, select: { status: true } });
        return onLost(
          row?.status === 'CANCELLED'
            ? 'the job was cancelled'
            : `the lease was lost (the job is ${row?.status ?? 'gone'})`,
        );
      }
      if (receiptHandle && deps.extendDelivery && Date.now() - lastExtend > (deps.leaseSeconds * 1000) / 3) {
        lastExtend = Date.now();
        await deps.extendDelivery(receiptHandle, visibilityFor(deps.leaseSeconds));
      }
    } catch (err) {
      // A missed beat is not fatal: the lease is long enough to survive a few.
      deps.logger.warn({ err, jobId }, 'heartbeat failed');
    } finally {
      busy = false;
    }
  }, every);
  return { stop: () => clearInterval(timer) };
}

/** Keeps the latest progress and writes it at most every 250 ms. */
class ProgressWriter {
  private latest?: { done: number; total: number | null };
  private written?: { done: number; total: number | null };
  private timer?: NodeJS.Timeout;
  private writing: Promise<void> = Promise.resolve();

  constructor(
    private readonly prisma: Prisma,
    private readonly jobId: string,
    private readonly token: string,
  ) {}

  set(done: number, total?: number | null): void {
    this.latest = { done, total: total ?? null };
    this.timer ??= setTimeout(() => void this.flush().catch(() => {}), 250);
  }

  /**
   * The latest progress not written yet, as job columns for the caller's final write (and no
   * write of its own). A write still in flight cannot land over it: it is guarded by the lease
   * token, which the final write clears.
   */
  take(): Pick<P.JobUpdateManyMutationInput, 'progressDone' | 'progressTotal'> {
    clearTimeout(this.timer);
    this.timer = undefined;
    const p = this.latest;
    if (!p || (this.written && this.written.done === p.done && this.written.total === p.total)) return {};
    this.written = p;
    return {
      progressDone: BigInt(Math.round(p.done)),
      progressTotal: p.total === null ? null : BigInt(Math.round(p.total)),
    };
  }

  flush(): Promise<void> {
    clearTimeout(this.timer);
    this.timer = undefined;
    const p = this.latest;
    if (!p || (this.written && this.written.done === p.done && this.written.total === p.total))
      return this.writing;
    this.written = p;
    this.writing = this.writing.then(async () => {
      // Progress is advisory: a write lost to a database blip is superseded by the next one and
      // must not fail the job.
      await this.prisma.job
        .updateMany({
          where: { id: this.jobId, leaseToken: this.token },
          data: {
            progressDone: BigInt(Math.round(p.done)),
            progressTotal: p.total === null ? null : BigInt(Math.round(p.total)),
            updatedAt: new Date(),
          },
        })
        .catch(() => {
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

/** A result as stored: bounded (core/jobs/limits.ts), bigints as numbers. */
function toJsonValue(v: unknown): P.InputJsonValue | typeof P.DbNull {
  const capped = capResult(v);
  return capped === null ? P.DbNull : (capped as P.InputJsonValue);
}

/** A delivery's visibility while its job runs: the lease plus the time between visibility beats. */
export function visibilityFor(leaseSeconds: number): number {
  return leaseSeconds + Math.ceil(leaseSeconds / 3) + 1;
}
