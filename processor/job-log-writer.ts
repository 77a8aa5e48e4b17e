import type { Prisma } from '../core/db/database.js';
import { Prisma as P } from '../core/db/generated/client.js';
import { LIVE_CHANNEL } from '../core/jobs/live-events.js';
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
 * a reader following `seq > after` never skips one. Each batch is announced on the `jobs_live`
 * channel (LISTEN/NOTIFY) in its own transaction: that is what live log streams wake on.
 */
export class JobLogWriter implements JobLogger {
  private buffer: Pending[] = [];
  private timer?: NodeJS.Timeout;
  private flushing: Promise<void> = Promise.resolve();
  private failed?: Error;

  constructor(
    private readonly prisma: Prisma,
    private readonly jobId: string,
    private readonly opts = { batchSize: 500, flushMs: 100 },
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
        await this.prisma.$transaction(async (tx) => {
          const [{ log_seq: last }] = await tx.$queryRaw<{ log_seq: number }[]>`
            UPDATE jobs SET log_seq = log_seq + ${batch.length} WHERE id = ${this.jobId}::uuid RETURNING log_seq`;
          const first = last - batch.length + 1;
          await tx.jobLog.createMany({
            data: batch.map((line, i) => ({ ...line, jobId: this.jobId, seq: first + i })),
          });
          // Delivered on commit, so a listener that reads `seq > after` then finds the batch.
          // Only the id and the last seq: listeners read the lines (NOTIFY payloads are small).
          const payload = JSON.stringify({ k: 'log', id: this.jobId, seq: last });
          await tx.$executeRaw`SELECT pg_notify(${LIVE_CHANNEL}, ${payload})`;
        });
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
