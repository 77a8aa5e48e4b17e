import type { Logger } from 'pino';
import type { JobStore, Reaped } from '../core/jobs/job-store.js';
import { visibilityFor } from './run-job.js';

export interface ReaperOptions {
  store: JobStore;
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

/**
 * The safety net of leases: a periodic sweep for RUNNING jobs whose lease expired long ago (their
 * worker died or hung, and their message is gone: deleted, dead-lettered, purged, or expired on
 * SQS). Each goes back to PENDING with a new message and a log line saying so, or, when its
 * attempts are used up, is FAILED with the reason in its error and log and marked dead-lettered.
 * A job whose cancel was requested is CANCELLED. No job stays RUNNING forever. The writes are the
 * job store's (`JobStore.reap`); this class only decides when to sweep.
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

  /** One sweep; resolves with the jobs put back in line, given up on and cancelled. */
  async sweep(): Promise<Reaped> {
    const reaped = await this.opts.store.reap(this.graceSeconds, this.opts.batchSize ?? 100);
    for (const id of reaped.requeued) this.opts.logger.warn({ jobId: id }, 'reaper: lease expired; requeued');
    for (const id of reaped.failed) this.opts.logger.warn({ jobId: id }, 'reaper: attempts used up; gave up');
    for (const id of reaped.cancelled)
      this.opts.logger.warn({ jobId: id }, 'reaper: cancel requested; cancelled');
    return reaped;
  }
}
