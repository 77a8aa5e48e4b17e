import { setTimeout as sleep } from 'node:timers/promises';
import type { SQSRecord } from 'aws-lambda';
import type { Logger } from 'pino';
import type { JobQueue, ReceivedMessage } from '../core/queue/job-queue.js';
import { backoffMs, retryTransient } from '../core/db/transient.js';
import { encodeMessage, type ProcessDelivery } from './processor.js';
import type { Delivery } from './run-job.js';

export interface QueueWorkerOptions {
  concurrency: number;
  /** Long-poll wait per receive (default 5 s; a stopping SQS worker waits out its last poll). */
  waitMs?: number;
  /** Delay before a failed delivery is tried again (visibility after a batch item failure). */
  retryDelaySeconds?: number;
  /** Backoff after a failed receive: base doubling to max, with jitter (default 250 ms to 5 s). */
  receiveBackoff?: { baseMs: number; maxMs: number };
  logger: Logger;
  /** How to receive (default: the queue's receive); compose passes the job store's claimNext. */
  receive?: Receive;
}

/** A received message, with its job's claim when the receive claimed it too (JobStore.claimNext). */
export type Received = ReceivedMessage & Pick<Delivery, 'claimed'>;

/** How the worker receives: the queue's own receive, or one that claims the jobs as well. */
export type Receive = (opts: { max: number; waitMs: number; signal?: AbortSignal }) => Promise<Received[]>;

/**
 * Feeds the processor from a queue, the way Lambda's SQS event source mapping does: receive,
 * process, delete what succeeded. `concurrency` deliveries run at once; one receive asks for as
 * many messages as there are free slots (with the database queue, one statement claims them and
 * their jobs). Used by the embedded worker in `jobs server` and by `jobs worker`.
 */
export class QueueWorker {
  /** Aborted by stop(): no new receives. */
  private readonly stopping = new AbortController();
  /** Aborted when the grace period runs out: running jobs are interrupted and released. */
  private readonly release = new AbortController();
  private readonly running = new Set<Promise<void>>();
  /**
   * Deliveries whose handler has not settled yet: a slot is free again once its handler returned,
   * while the outcome's write is still in flight (`Delivery.onHandlerDone`), so the next claim and
   * that write overlap instead of following each other. At most `concurrency` writes are left in
   * flight that way (`running` holds both kinds).
   */
  private busy = 0;
  private loopDone?: Promise<void>;
  /** Resolves the dispatcher's wait for a free slot. */
  private slotFreed?: () => void;

  constructor(
    private readonly queue: Pick<JobQueue, 'receive' | 'delete' | 'changeVisibility'>,
    private readonly process: ProcessDelivery,
    private readonly opts: QueueWorkerOptions,
  ) {}

  start(): void {
    this.loopDone ??= this.loop();
  }

  /**
   * Stops taking work; running jobs get `graceMs` to finish, then are interrupted and released
   * back to the queue for another worker (or the next start).
   */
  async stop(graceMs = 10_000): Promise<void> {
    this.stopping.abort();
    this.slotFreed?.();
    const timer = setTimeout(() => this.release.abort(), graceMs);
    await this.loopDone;
    await Promise.all(this.running);
    clearTimeout(timer);
  }

  private async loop(): Promise<void> {
    const signal = this.stopping.signal;
    const receive: Receive = this.opts.receive ?? ((o) => this.queue.receive(o));
    let failures = 0;
    while (!signal.aborted) {
      const { concurrency } = this.opts;
      const free = Math.min(concurrency - this.busy, 2 * concurrency - this.running.size);
      if (free === 0) {
        await new Promise<void>((resolve) => (this.slotFreed = resolve));
        continue;
      }
      let messages: Received[] = [];
      try {
        messages = await receive({ max: free, waitMs: this.opts.waitMs ?? 5_000, signal });
        failures = 0;
      } catch (err) {
        // The queue (or the database under it) is down: back off, 250 ms doubling to 5 s, so a
        // restarted PostgreSQL is noticed within seconds without hammering it meanwhile.
        const { baseMs, maxMs } = this.opts.receiveBackoff ?? { baseMs: 250, maxMs: 5_000 };
        const delay = backoffMs(failures++, baseMs, maxMs);
        this.opts.logger.error({ err }, `receiving from the queue failed; retrying in ${delay} ms`);
        // timers/promises removes its abort listener when the timer fires: one added per failed
        // receive and never removed would pile up on the signal for as long as an outage lasts.
        await sleep(delay, undefined, { signal }).catch(() => {});
        continue;
      }
      for (const m of messages) {
        // Received while stopping (a receive in flight returned late): the processor gives a
        // claimed job back; an unclaimed message is made visible again untouched.
        if (signal.aborted && m.claimed === undefined) {
          await this.queue.changeVisibility(m.receiptHandle, 0).catch(() => {});
          continue;
        }
        this.busy++;
        let settled = false;
        const settle = () => {
          if (settled) return;
          settled = true;
          this.busy--;
          this.slotFreed?.();
        };
        const run: Promise<void> = this.handle(m, settle).finally(() => {
          this.running.delete(run);
          settle();
          this.slotFreed?.();
        });
        this.running.add(run);
      }
    }
  }

  private async handle(m: Received, onHandlerDone: () => void): Promise<void> {
    try {
      const end = await this.process(
        {
          jobId: m.jobId,
          messageId: m.messageId,
          receiptHandle: m.receiptHandle,
          receiveCount: m.receiveCount,
          claimed: m.claimed,
          onHandlerDone,
        },
        this.stopping.signal.aborted ? AbortSignal.abort() : this.release.signal,
      );
      if (end === 'acked') return;
      // The database queue's acknowledgement rides out a database blip (retried for a while),
      // so a finished job is not delivered again just because PostgreSQL restarted.
      const retry = { what: 'acknowledging a message', logger: this.opts.logger, maxMs: 30_000 };
      if (end === 'delete') await retryTransient(() => this.queue.delete(m.receiptHandle), retry);
      else {
        // Released at shutdown: visible again at once for the next worker. Failed: after a delay.
        const delay =
          this.release.signal.aborted || this.stopping.signal.aborted
            ? 0
            : (this.opts.retryDelaySeconds ?? 5);
        await retryTransient(() => this.queue.changeVisibility(m.receiptHandle, delay), retry);
      }
    } catch (err) {
      // Infrastructure trouble (database down, blob store unreachable): the message is delivered
      // again after its visibility timeout rather than lost.
      this.opts.logger.error(
        { err, jobId: m.jobId },
        'processing or acknowledging a message failed; it will be delivered again',
      );
    }
  }
}

/** The SQS record Lambda would deliver for this message. */
export function toRecord(m: ReceivedMessage): SQSRecord {
  return {
    messageId: m.messageId,
    receiptHandle: m.receiptHandle,
    body: encodeMessage(m.jobId),
    attributes: {
      ApproximateReceiveCount: String(m.receiveCount),
      SentTimestamp: String(m.sentAt.getTime()),
      SenderId: 'jobs',
      ApproximateFirstReceiveTimestamp: String(Date.now()),
    },
    messageAttributes: {},
    md5OfBody: '',
    eventSource: 'aws:sqs',
    eventSourceARN: 'arn:aws:sqs:local:000000000000:jobs',
    awsRegion: 'local',
  };
}
