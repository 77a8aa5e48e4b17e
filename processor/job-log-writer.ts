import type { Prisma } from '../core/db/database.js';
import { Prisma as P } from '../core/db/generated/client.js';
import type { JobLogger } from './handler.js';

interface Pending {
  level: string;
  message: string;
  ts: Date;
  data?: P.InputJsonValue;
}

const MAX_MESSAGE = 4000;

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
 * transaction per batch: several writers on one job (an attempt and a duplicate delivery, say)
 * never collide, and as the row lock is held until commit, lines become visible in seq order, so
 * a reader following `seq > after` never skips one.
 */
export class JobLogWriter implements JobLogger {
  private buffer: Pending[] = [];
  /** A flush is scheduled (after the batch in flight, if any). */
  private scheduled = false;
  private flushing: Promise<void> = Promise.resolve();
  private failed?: Error;

  constructor(
    private readonly prisma: Prisma,
    private readonly jobId: string,
    private readonly opts = { batchSize: 500 },
  ) {}

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
    this.buffer.push({
      level,
      message: message.length > MAX_MESSAGE ? `${message.slice(0, MAX_MESSAGE)}…` : message,
      ts: new Date(),
      ...(data === undefined ? {} : { data: toJson(data) }),
    });
    if (this.buffer.length >= this.opts.batchSize) void this.flush().catch(() => {});
    else this.schedule();
  }

  private schedule(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    // After the batch in flight (lines gather meanwhile), plus one turn, so lines logged together
    // go in one INSERT. `flushing` never rejects: a failed batch is kept in `failed`.
    void this.flushing.then(() =>
      setImmediate(() => {
        if (!this.scheduled) return; // flushed explicitly in the meantime
        void this.flush().catch(() => {});
      }),
    );
  }

  /** Writes everything buffered so far; rejects if any batch could not be written. */
  flush(): Promise<void> {
    this.scheduled = false;
    const batch = this.buffer;
    this.buffer = [];
    // Batches are chained so lines reach the table in seq order.
    this.flushing = this.flushing.then(async () => {
      if (batch.length === 0) return;
      try {
        await this.prisma.$transaction((tx) => this.insert(tx, batch));
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

  private async insert(tx: Tx, batch: Pending[]): Promise<void> {
    const [{ log_seq: last }] = await tx.$queryRaw<{ log_seq: number }[]>`
      UPDATE jobs SET log_seq = log_seq + ${batch.length} WHERE id = ${this.jobId}::uuid RETURNING log_seq`;
    const first = last - batch.length + 1;
    await tx.jobLog.createMany({
      data: batch.map((line, i) => ({ ...line, jobId: this.jobId, seq: first + i })),
    });
  }
}

function toJson(data: unknown): P.InputJsonValue {
  try {
    return JSON.parse(JSON.stringify(data, (_k, v) => (typeof v === 'bigint' ? Number(v) : v))) ?? P.JsonNull;
  } catch {
    return String(data);
  }
}
