import { setTimeout as sleep } from 'node:timers/promises';
import type { SQSRecord } from 'aws-lambda';
import type { Logger } from 'pino';
import type { JobQueue, ReceivedMessage } from '../core/queue/job-queue.js';
import { backoffMs, retryTransient } from '../core/db/transient.js';
import { encodeMessage, type ProcessBatch } from './processor.js';

export interface QueueWorkerOptions {
  concurrency: number;
  /** Long-poll wait per receive (default 5 s; a stopping SQS worker waits out its last poll). */
  waitMs?: number;
  /** Delay before a failed delivery is tried again (visibility after a batch item failure). */
  retryDelaySeconds?: number;
  /** Backoff after a failed receive: base doubling to max, with jitter (default 250 ms to 5 s). */
  receiveBackoff?: { baseMs: number; maxMs: number };
  logger: Logger;
}

/**
 * Feeds the processor from a queue, the way Lambda's SQS event source mapping does: receive,
 * hand the processor an SQSEvent, delete what succeeded. `concurrency` deliveries run at once.
 * Used by the embedded worker in `jobs server` and by `jobs worker`.
 */
export class QueueWorker {
  /** Aborted by stop(): no new receives. */
  private readonly stopping = new AbortController();
  /** Aborted when the grace period runs out: running jobs are interrupted and released. */
  private readonly release = new AbortController();
  private readonly slots: Promise<void>[] = [];

  constructor(
    private readonly queue: JobQueue,
    private readonly process: ProcessBatch,
    private readonly opts: QueueWorkerOptions,
  ) {}

  start(): void {
    for (let i = 0; i < this.opts.concurrency; i++) this.slots.push(this.loop());
  }

  /**
   * Stops taking work; running jobs get `graceMs` to finish, then are interrupted and released
   * back to the queue for another worker (or the next start).
   */
  async stop(graceMs = 10_000): Promise<void> {
    this.stopping.abort();
    const timer = setTimeout(() => this.release.abort(), graceMs);
    await Promise.all(this.slots);
    clearTimeout(timer);
  }

  private async loop(): Promise<void> {
    const signal = this.stopping.signal;
    let failures = 0;
    while (!signal.aborted) {
      let messages: ReceivedMessage[] = [];
      try {
        messages = await this.queue.receive({ max: 1, waitMs: this.opts.waitMs ?? 5_000, signal });
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
        // Received while stopping (a receive in flight returned late): give it back untouched.
        if (signal.aborted) await this.queue.changeVisibility(m.receiptHandle, 0).catch(() => {});
        else await this.handle(m);
      }
    }
  }

  private async handle(m: ReceivedMessage): Promise<void> {
    try {
      const res = await this.process({ Records: [toRecord(m)] }, this.release.signal);
      // The database queue's acknowledgement rides out a database blip (retried for a while),
      // so a finished job is not delivered again just because PostgreSQL restarted.
      const retry = { what: 'acknowledging a message', logger: this.opts.logger, maxMs: 30_000 };
      if (res.batchItemFailures.length === 0)
        await retryTransient(() => this.queue.delete(m.receiptHandle), retry);
      else {
        // Released at shutdown: visible again at once for the next worker. Failed: after a delay.
        const delay = this.release.signal.aborted ? 0 : (this.opts.retryDelaySeconds ?? 5);
        await retryTransient(() => this.queue.changeVisibility(m.receiptHandle, delay), retry);
      }
    } catch (err) {
      this.opts.logger.error(
        { err, jobId: m.jobId },
        'acknowledging a message failed; it will be delivered again',
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
