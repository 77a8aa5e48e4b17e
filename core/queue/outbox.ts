import type { Logger } from 'pino';
import type { Prisma } from '../db/database.js';
import { SQS_PRIORITY_THRESHOLD } from './sqs-priority.js';
import { Prisma as P } from '../db/generated/client.js';

export type OutboxLogger = Pick<Logger, 'warn' | 'error' | 'debug'>;

export interface OutboxRelayOptions {
  prisma: Prisma;
  /**
   * Publishes messages for these jobs and resolves with the ids it published (a partial result
   * leaves the rest for a later attempt). Throwing means nothing was published. `urgent`: the
   * ids among them whose job has a priority above 0 (SQS's priority queue: sqs-priority.ts),
   * read with the rows, in the relay's transaction.
   */
  publish: (jobIds: string[], urgent: ReadonlySet<string>) => Promise<string[]>;
  logger: OutboxLogger;
  /** Safety-net poll; `kick()` wakes the relay at once. Default 1000. */
  pollMs?: number;
  /** Backoff after a failed publish: base * 2^attempts, capped, times a jitter in [0.5, 1). */
  backoffBaseMs?: number;
  backoffMaxMs?: number;
  /** Rows claimed (and locked) per transaction. Default 10, one SendMessageBatch. */
  batchSize?: number;
  /** Upper bound of one claim-publish-delete transaction. Default 30 000. */
  transactionTimeoutMs?: number;
}

interface OutboxRow {
  id: bigint;
  job_id: string;
  urgent: boolean;
}

/**
 * The relay of the transactional outbox: publishes `job_outbox` rows (written in the job's own
 * transaction) and deletes them once published. A row stays until its publish succeeds, so a
 * crash or a queue outage between commit and publish never strands a job; failed publishes back
 * off exponentially with jitter.
 *
 * Rows are claimed with FOR UPDATE SKIP LOCKED and deleted in the claiming transaction, so any
 * number of processes can relay at once without sending one row twice. A crash after publish and
 * before commit does send it twice: delivery is at least once anyway, and the processor ignores a
 * message whose job is no longer PENDING.
 *
 * @example
 *   const relay = new OutboxRelay({ prisma, publish: (ids) => queue.publish(ids), logger });
 *   relay.start();
 *   // after a transaction that wrote outbox rows commits:
 *   relay.kick();
 *   await relay.stop();
 */
export class OutboxRelay {
  private readonly pollMs: number;
  private readonly baseSeconds: number;
  private readonly maxSeconds: number;
  private readonly batchSize: number;
  private readonly txTimeoutMs: number;
  private loop?: Promise<void>;
  private stopped = false;
  private kicked = false;
  private wakeUp?: () => void;

  constructor(private readonly opts: OutboxRelayOptions) {
    this.pollMs = opts.pollMs ?? 1000;
    this.baseSeconds = (opts.backoffBaseMs ?? 1000) / 1000;
    this.maxSeconds = (opts.backoffMaxMs ?? 60_000) / 1000;
    this.batchSize = opts.batchSize ?? 10;
    this.txTimeoutMs = opts.transactionTimeoutMs ?? 30_000;
  }

  /** Starts relaying in the background until `stop()`. Idempotent. */
  start(): void {
    if (this.loop || this.stopped) return;
    this.loop = this.run();
  }

  /** Wakes the relay now (e.g. right after a transaction that wrote outbox rows committed). */
  kick(): void {
    this.kicked = true;
    this.wakeUp?.();
  }

  /** Stops the loop, waiting for a claim in progress to finish. */
  async stop(): Promise<void> {
    this.stopped = true;
    this.wakeUp?.();
    await this.loop;
  }

  /**
   * Claims one batch of due rows, publishes them and deletes the published ones (failed ones are
   * rescheduled). Returns how many rows were claimed and how many published.
   */
  async relayOnce(): Promise<{ claimed: number; published: number }> {
    return this.opts.prisma.$transaction(
      async (tx) => {
        const rows = await tx.$queryRaw<OutboxRow[]>`
          SELECT o.id, o.job_id::text AS job_id, coalesce(j.priority, 0) >= ${SQS_PRIORITY_THRESHOLD} AS urgent
          FROM job_outbox o LEFT JOIN jobs j ON j.id = o.job_id
          WHERE o.next_attempt_at <= now()
          ORDER BY o.next_attempt_at, o.id
          LIMIT ${this.batchSize}
          FOR UPDATE OF o SKIP LOCKED`;
        if (rows.length === 0) return { claimed: 0, published: 0 };
        // One message per job is enough: it carries the id only, and the job row is the truth.
        const jobIds = [...new Set(rows.map((r) => r.job_id))];
        let published: string[] = [];
        let error: unknown;
        try {
          published = await this.opts.publish(
            jobIds,
            new Set(rows.filter((r) => r.urgent).map((r) => r.job_id)),
          );
        } catch (err) {
          error = err;
        }
        const ok = new Set(published);
        const done = rows.filter((r) => ok.has(r.job_id)).map((r) => r.id);
        const failed = rows.filter((r) => !ok.has(r.job_id)).map((r) => r.id);
        if (done.length > 0) await tx.jobOutbox.deleteMany({ where: { id: { in: done } } });
        if (failed.length > 0) {
          const message = error instanceof Error ? error.message : 'not accepted by the queue';
          this.opts.logger.warn({ err: error, jobs: failed.length }, 'outbox: publish failed; will retry');
          await tx.$executeRaw`
            UPDATE job_outbox
            SET attempts = attempts + 1,
                last_error = ${message},
                next_attempt_at = now() + make_interval(secs =>
                  least(${this.maxSeconds}::float8, ${this.baseSeconds}::float8 * power(2, attempts))
                  * (0.5 + random() / 2))
            WHERE id IN (${P.join(failed)})`;
        }
        return { claimed: rows.length, published: done.length };
      },
      { timeout: this.txTimeoutMs, maxWait: this.txTimeoutMs },
    );
  }

  private async run(): Promise<void> {
    while (!this.stopped) {
      let more = false;
      try {
        const { claimed, published } = await this.relayOnce();
        // A full batch that went through: there may be more due at once.
        more = claimed === this.batchSize && published === claimed;
      } catch (err) {
        this.opts.logger.error({ err }, 'outbox: relay failed; will retry');
      }
      if (!more && !this.stopped) await this.sleep();
    }
  }

  private sleep(): Promise<void> {
    if (this.kicked) {
      this.kicked = false;
      return Promise.resolve();
    }
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.wakeUp = undefined;
        this.kicked = false;
        resolve();
      };
      const timer = setTimeout(done, this.pollMs);
      // A relay alone must not keep a CLI process alive.
      timer.unref();
      this.wakeUp = done;
    });
  }
}
