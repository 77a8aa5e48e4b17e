import type { Logger } from 'pino';
import type { Prisma } from '../core/db/database.js';
import { Prisma as P } from '../core/db/generated/client.js';
import { retryTransient } from '../core/db/transient.js';
import type { JobLogger } from './handler.js';

interface Pending {
  level: string;
  message: string;
  ts: Date;
  data?: P.InputJsonValue;
}

const MAX_MESSAGE = 4000;

/**
 * Buffers a job's log lines and inserts them in batches (one INSERT per `batchSize` lines or per
 * `flushMs`), so a handler can log freely without a round trip per line.
 *
 * Sequence numbers come from the job row's `log_seq` counter, reserved and used in one
 * transaction per batch: several writers on one job (an attempt and a duplicate delivery, say)
 * never collide, and as the row lock is held until commit, lines become visible in seq order, so
 * a reader following `seq > after` never skips one.
 */
export class JobLogWriter implements JobLogger {
  private buffer: Pending[] = [];
  private timer?: NodeJS.Timeout;
  private flushing: Promise<void> = Promise.resolve();
  private failed?: Error;

  constructor(
    private readonly prisma: Prisma,
    private readonly jobId: string,
    opts: { batchSize?: number; flushMs?: number; logger?: Pick<Logger, 'warn'> } = {},
  ) {
    this.opts = { batchSize: 500, flushMs: 100, ...opts };
  }

  private readonly opts: { batchSize: number; flushMs: number; logger?: Pick<Logger, 'warn'> };

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
    else this.timer ??= setTimeout(() => void this.flush().catch(() => {}), this.opts.flushMs);
  }

  /** Writes everything buffered so far; rejects if any batch could not be written. */
  flush(): Promise<void> {
    clearTimeout(this.timer);
    this.timer = undefined;
    const batch = this.buffer;
    this.buffer = [];
    // Batches are chained so lines reach the table in seq order.
    this.flushing = this.flushing.then(async () => {
      if (batch.length === 0) return;
      try {
        // A lost connection (PostgreSQL restarting, a terminated backend) is retried for a while:
        // the batch is kept, not dropped. Should a commit's reply be what got lost, the retry
        // writes the lines once more under new seqs, which beats losing them.
        await retryTransient(
          () =>
            this.prisma.$transaction(async (tx) => {
              const [{ log_seq: last }] = await tx.$queryRaw<{ log_seq: number }[]>`
                UPDATE jobs SET log_seq = log_seq + ${batch.length} WHERE id = ${this.jobId}::uuid RETURNING log_seq`;
              const first = last - batch.length + 1;
              await tx.jobLog.createMany({
                data: batch.map((line, i) => ({ ...line, jobId: this.jobId, seq: first + i })),
              });
            }),
          { what: `writing job ${this.jobId}'s log`, logger: this.opts.logger },
        );
      } catch (err) {
        this.failed ??= err as Error;
      }
    });
    return this.flushing.then(() => {
      if (this.failed) throw this.failed;
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
