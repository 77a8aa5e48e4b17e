import type { Logger } from 'pino';
import type { Prisma } from '../core/db/database.js';
import type { JobQueue } from '../core/queue/job-queue.js';
import { gaveUpReason, visibilityFor } from './run-job.js';

export interface ReaperOptions {
  prisma: Prisma;
  queue: Pick<JobQueue, 'send' | 'afterCommit'>;
  logger: Logger;
  /** The lease the processor takes (JOBS_VISIBILITY_TIMEOUT_SECONDS). */
  leaseSeconds: number;
  /**
   * How long past its lease a RUNNING job is left to its queue message before the reaper steps
   * in. The message reappears within `visibilityFor(lease)` of the last heartbeat, and its
   * redelivery claims the job (and logs it); the reaper is for jobs whose message is gone.
   * Default: visibilityFor(leaseSeconds).
   */
  graceSeconds?: number;
  /** Sweep period (default: a third of the lease, between 1 and 30 s). */
  intervalMs?: number;
  /** Jobs handled per sweep transaction (default 100). */
  batchSize?: number;
}

interface ExpiredJob {
  id: string;
  attempts: number;
  max_attempts: number;
}

/**
 * The safety net of leases: a periodic sweep for RUNNING jobs whose lease expired long ago (their
 * worker died or hung, and their message is gone: deleted, dead-lettered, purged, or expired on
 * SQS). Each goes back to PENDING with a new message and a log line saying so, or, when its
 * attempts are used up, is FAILED with the reason in its error and log and marked dead-lettered.
 * No job stays RUNNING forever.
 *
 * Safe with any number of workers sweeping at once: rows are taken with FOR UPDATE SKIP LOCKED
 * and re-checked under the lock, so each expired job is handled by one sweep only, and a worker
 * that wakes up later finds its lease token gone and writes nothing.
 */
export class Reaper {
  private timer?: NodeJS.Timeout;
  private running?: Promise<unknown>;
  private readonly graceSeconds: number;
  private readonly intervalMs: number;

  constructor(private readonly opts: ReaperOptions) {
    this.graceSeconds = opts.graceSeconds ?? visibilityFor(opts.leaseSeconds);
    this.intervalMs =
      opts.intervalMs ?? Math.min(30_000, Math.max(1_000, Math.round((opts.leaseSeconds * 1000) / 3)));
  }

  start(): void {
    if (this.timer) return;
    this.timer = setInterval(() => {
      if (this.running) return;
      this.running = this.sweep()
        .catch((err: unknown) => this.opts.logger.warn({ err }, 'reaper: sweep failed; will try again'))
        .finally(() => (this.running = undefined));
    }, this.intervalMs);
    // The reaper alone must not keep a process alive.
    this.timer.unref();
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    this.timer = undefined;
    await this.running;
  }

  /** One sweep; resolves with the jobs put back in line and the jobs given up on. */
  async sweep(): Promise<{ requeued: string[]; failed: string[] }> {
    const requeued: string[] = [];
    const failed: string[] = [];
    const { prisma, queue } = this.opts;
    await prisma.$transaction(async (tx) => {
      const jobs = await tx.$queryRaw<ExpiredJob[]>`
        SELECT id, attempts, max_attempts FROM jobs
        WHERE status = 'RUNNING'
          AND lease_expires_at < now() - make_interval(secs => ${this.graceSeconds}::float8)
        ORDER BY lease_expires_at
        LIMIT ${this.opts.batchSize ?? 100}
        FOR UPDATE SKIP LOCKED`;
      for (const job of jobs) {
        let message: string;
        if (job.attempts >= job.max_attempts) {
          message = gaveUpReason(job.attempts);
          await tx.$executeRaw`
            UPDATE jobs SET status = 'FAILED', error = ${message}, lease_token = NULL,
              lease_expires_at = NULL, finished_at = now(), dead_lettered_at = now(), updated_at = now()
            WHERE id = ${job.id}::uuid`;
          failed.push(job.id);
        } else {
          message = `lease of attempt ${job.attempts} expired (its worker stopped, hung or was cut off, and its message is gone); requeued, attempt ${job.attempts + 1} of ${job.max_attempts} next`;
          // attempts is kept: the next claim counts the next attempt.
          await tx.$executeRaw`
            UPDATE jobs SET status = 'PENDING', lease_token = NULL, lease_expires_at = NULL,
              updated_at = now()
            WHERE id = ${job.id}::uuid`;
          await queue.send(job.id, tx);
          requeued.push(job.id);
        }
        // One log line in the same transaction, its seq reserved like JobLogWriter does.
        await tx.$executeRaw`
          WITH s AS (UPDATE jobs SET log_seq = log_seq + 1 WHERE id = ${job.id}::uuid RETURNING log_seq)
          INSERT INTO job_logs (job_id, seq, level, message)
          SELECT ${job.id}::uuid, s.log_seq, ${failed.includes(job.id) ? 'error' : 'warn'}, ${message} FROM s`;
        this.opts.logger.warn({ jobId: job.id }, `reaper: ${message}`);
      }
    });
    if (requeued.length > 0) queue.afterCommit?.();
    return { requeued, failed };
  }
}
