import type { Logger } from 'pino';
import type { Prisma } from '../core/db/database.js';
import { retryTransient } from '../core/db/transient.js';
import { LIVE_CHANNEL } from '../core/jobs/live-events.js';
import type { JobLogger } from './handler.js';

interface Pending {
  level: string;
  message: string;
  ts: Date;
  /** The data as JSON text (jsonb in the table). */
  data?: string;
}

const MAX_MESSAGE = 4000;

/**
 * Buffers a job's log lines and inserts them in batches (one INSERT per `batchSize` lines or per
 * `flushMs`), so a handler can log freely without a round trip per line.
 *
 * Sequence numbers come from the job row's `log_seq` counter, reserved and used in one
 * statement per batch: several writers on one job (an attempt and a duplicate delivery, say)
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
        // One statement, not a transaction of two: the job row stays locked only while the
        // database runs it. A worker that hangs (or is frozen) between two round trips of an
        // open transaction would hold the row lock for as long as it hangs, and every claim,
        // cancel and reaper sweep of the job would wait for it or pass it by.
        // The NOTIFY (only the id and the last seq: payloads are small, listeners read the lines)
        // is delivered on commit, so a listener that then reads `seq > after` finds the batch.
        // A lost connection (PostgreSQL restarting, a terminated backend) is retried for a while:
        // the batch is kept, not dropped. Should a commit's reply be what got lost, the retry
        // writes the lines once more under new seqs, which beats losing them.
        await retryTransient(
          () =>
            this.prisma.$executeRaw`
          WITH s AS (
            UPDATE jobs SET log_seq = log_seq + ${batch.length}
            WHERE id = ${this.jobId}::uuid
            RETURNING log_seq, pg_notify(${LIVE_CHANNEL}, json_build_object('k', 'log', 'id', id, 'seq', log_seq)::text)
          )
          INSERT INTO job_logs (job_id, seq, ts, level, message, data)
          SELECT ${this.jobId}::uuid, s.log_seq - ${batch.length} + u.ord::int, u.ts, u.level, u.message,
                 u.data::jsonb
          FROM s, unnest(
            ${batch.map((l) => l.ts)}::timestamptz[],
            ${batch.map((l) => l.level)}::text[],
            ${batch.map((l) => l.message)}::text[],
            ${batch.map((l) => l.data ?? null)}::text[]
          ) WITH ORDINALITY AS u(ts, level, message, data, ord)`,
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

/** JSON text of a log line's data (bigints as numbers); a value JSON cannot hold, as a string. */
function toJson(data: unknown): string {
  try {
    return JSON.stringify(data, (_k, v) => (typeof v === 'bigint' ? Number(v) : v)) ?? 'null';
  } catch {
    return JSON.stringify(String(data));
  }
}
