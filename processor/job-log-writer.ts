import type { Logger } from 'pino';
import type { Prisma } from '../core/db/database.js';
import { retryTransient } from '../core/db/transient.js';
import { capLogLine, droppedLinesMessage, LogRateLimiter } from '../core/jobs/limits.js';
import { LIVE_CHANNEL } from '../core/jobs/live-events.js';
import type { JobLogger } from './handler.js';

interface Pending {
  level: string;
  message: string;
  ts: Date;
  /** The data as JSON text (jsonb in the table). */
  data?: string;
}

/** Lines taken from a writer for its owner to write (`take`, `writeIn`). */
export type PendingLines = readonly unknown[];

/** A transaction of the job database's client. */
export type Tx = Parameters<Parameters<Prisma['$transaction']>[0]>[0];

/**
 * Buffers a job's log lines and inserts them in batches, so a handler can log freely without a
 * round trip per line. A line logged while the writer is idle is written on the next turn of the
 * event loop (with whatever else was logged in the same turn), so a follower sees it within a
 * round trip; lines logged while a batch is being written gather and go in the next one (or
 * sooner, in batches of `batchSize`). The database's speed sets the batch size, not a timer.
 *
 * Sequence numbers come from the job row's `log_seq` counter, reserved and used in one
 * statement per batch: several writers on one job (an attempt and a duplicate delivery, say)
 * never collide, and as the row lock is held until commit, lines become visible in seq order, so
 * a reader following `seq > after` never skips one. Each batch is announced on the `jobs_live`
 * channel (LISTEN/NOTIFY), delivered on commit: that is what live log streams wake on.
 */
export class JobLogWriter implements JobLogger {
  private buffer: Pending[] = [];
  /** A flush is scheduled (after the batch in flight, if any). */
  private scheduled = false;
  private flushing: Promise<void> = Promise.resolve();
  private failed?: Error;
  /** Lines per second per job (core/jobs/limits.ts): a runaway handler cannot flood the table. */
  private readonly limiter: LogRateLimiter;

  constructor(
    private readonly prisma: Prisma,
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

  private write(level: string, message: string, data?: unknown): void {
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
        await retryTransient(() => this.insert(this.prisma, batch), {
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
   * Takes the buffered lines out of the writer's hands, for `writeIn` in the caller's transaction,
   * so the last lines and the job's final status commit together (one transaction, not two).
   * Taken synchronously, before the transaction starts: a flush scheduled meanwhile finds nothing.
   * Nothing may be logged between `take` and the end of that transaction.
   */
  take(): PendingLines {
    this.noteDropped();
    this.scheduled = false;
    const batch = this.buffer;
    this.buffer = [];
    return batch;
  }

  /** Writes `take()`n lines in `tx`, after any batch in flight; rejects if one of those failed. */
  async writeIn(tx: Tx, batch: PendingLines): Promise<void> {
    await this.flushing;
    if (this.failed) throw this.failed;
    if (batch.length > 0) await this.insert(tx, batch as Pending[]);
  }

  /**
   * One statement, not a transaction of two: the job row stays locked only while the database
   * runs it. A worker that hangs (or is frozen) between two round trips of an open transaction
   * would hold the row lock for as long as it hangs, and every claim, cancel and reaper sweep of
   * the job would wait for it or pass it by. The NOTIFY (only the id and the last seq: payloads
   * are small, listeners read the lines) is delivered on commit, so a listener that then reads
   * `seq > after` finds the batch.
   */
  private async insert(db: Pick<Tx, '$executeRaw'>, batch: Pending[]): Promise<void> {
    await db.$executeRaw`
      WITH s AS (
        UPDATE jobs SET log_seq = log_seq + ${batch.length}
        WHERE id = ${this.jobId}::uuid
        RETURNING log_seq,
          pg_notify(${LIVE_CHANNEL}, json_build_object('k', 'log', 'id', id, 'seq', log_seq)::text)
      )
      INSERT INTO job_logs (job_id, seq, ts, level, message, data)
      SELECT ${this.jobId}::uuid, s.log_seq - ${batch.length} + u.ord::int, u.ts, u.level, u.message,
             u.data::jsonb
      FROM s, unnest(
        ${batch.map((l) => l.ts)}::timestamptz[],
        ${batch.map((l) => l.level)}::text[],
        ${batch.map((l) => l.message)}::text[],
        ${batch.map((l) => l.data ?? null)}::text[]
      ) WITH ORDINALITY AS u(ts, level, message, data, ord)`;
  }
}
