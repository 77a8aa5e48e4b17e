import type { Logger } from 'pino';
import { retryTransient } from '../core/db/transient.js';
import type { JobStore, LogLine } from '../core/jobs/job-store.js';
import { capLogLine, droppedLinesMessage, LogRateLimiter } from '../core/jobs/limits.js';
import type { JobLogger } from './handler.js';

/**
 * Buffers a job's log lines and inserts them in batches, so a handler can log freely without a
 * round trip per line. A line logged while the writer is idle is written on the next turn of the
 * event loop (with whatever else was logged in the same turn), so a follower sees it within a
 * round trip; lines logged while a batch is being written gather and go in the next one (or
 * sooner, in batches of `batchSize`). The database's speed sets the batch size, not a timer.
 *
 * Each batch is one `JobStore.appendLogs` (seqs reserved, lines inserted and announced on the live
 * channel in one statement). The last lines of an attempt are not flushed but handed to the
 * transition that ends it (`drain`), so they commit with the outcome.
 */
export class JobLogWriter implements JobLogger {
  private buffer: LogLine[] = [];
  /** A flush is scheduled (after the batch in flight, if any). */
  private scheduled = false;
  private flushing: Promise<void> = Promise.resolve();
  private failed?: Error;
  /** Lines per second per job (core/jobs/limits.ts): a runaway handler cannot flood the table. */
  private readonly limiter: LogRateLimiter;

  constructor(
    private readonly store: Pick<JobStore, 'appendLogs'>,
    private readonly jobId: string,
    private readonly opts: {
      batchSize?: number;
      logger?: Pick<Logger, 'warn'>;
      rateLimit?: { perSecond?: number; burst?: number; now?: () => number };
    } = {},
  ) {
    this.limiter = new LogRateLimiter(opts.rateLimit);
  }

  info(message: string, data?: unknown): void {
    this.write('info', message, data);
  }
  warn(message: string, data?: unknown): void {
    this.write('warn', message, data);
  }
  error(message: string, data?: unknown): void {
    this.write('error', message, data);
  }

  private write(level: LogLine['level'], message: string, data?: unknown): void {
    if (!this.limiter.allow()) return; // counted: said once, when logging resumes
    this.noteDropped();
    // Each line bounded (message and data): see core/jobs/limits.ts.
    this.buffer.push({ level, ts: new Date(), ...capLogLine({ message, data }) });
    if (this.buffer.length >= (this.opts.batchSize ?? 500)) void this.writeBuffered().catch(() => {});
    else this.schedule();
  }

  /** One line for the lines the rate limit dropped since the last one, if any. */
  private noteDropped(): void {
    const dropped = this.limiter.takeDropped();
    if (dropped > 0) {
      this.buffer.push({
        level: 'warn',
        ts: new Date(),
        message: droppedLinesMessage(dropped),
        data: JSON.stringify({ dropped }),
      });
    }
  }

  private schedule(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    // After the batch in flight (lines gather meanwhile), plus one turn, so lines logged together
    // go in one INSERT. `flushing` never rejects: a failed batch is kept in `failed`.
    void this.flushing.then(() =>
      setImmediate(() => {
        if (!this.scheduled) return; // flushed explicitly in the meantime
        void this.writeBuffered().catch(() => {});
      }),
    );
  }

  /** Writes everything buffered so far; rejects if any batch could not be written. */
  flush(): Promise<void> {
    this.noteDropped();
    return this.writeBuffered();
  }

  private writeBuffered(): Promise<void> {
    this.scheduled = false;
    const batch = this.buffer;
    this.buffer = [];
    // Batches are chained so lines reach the table in seq order.
    this.flushing = this.flushing.then(async () => {
      if (batch.length === 0) return;
      try {
        // A lost connection (PostgreSQL restarting, a terminated backend) is retried for a while:
        // the batch is kept, not dropped. Should a commit's reply be what got lost, the retry
        // writes the lines once more under new seqs, which beats losing them.
        await retryTransient(() => this.store.appendLogs(this.jobId, batch), {
          what: `writing job ${this.jobId}'s log`,
          logger: this.opts.logger,
        });
      } catch (err) {
        this.failed ??= err as Error;
      }
    });
    return this.flushing.then(() => {
      if (this.failed) throw this.failed;
    });
  }

  /**
   * Takes the buffered lines out of the writer's hands once every batch in flight is written, for
   * the transition that ends the attempt to write them with its outcome (one transaction, not
   * two). Rejects if a batch could not be written. Nothing may be logged after this.
   */
  async drain(): Promise<LogLine[]> {
    this.noteDropped();
    this.scheduled = false;
    const batch = this.buffer;
    this.buffer = [];
    await this.flushing;
    if (this.failed) throw this.failed;
    return batch;
  }
}
