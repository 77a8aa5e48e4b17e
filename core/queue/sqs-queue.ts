import {
  ChangeMessageVisibilityCommand,
  DeleteMessageCommand,
  GetQueueAttributesCommand,
  ReceiveMessageCommand,
  SendMessageBatchCommand,
  SendMessageCommand,
  type Message,
  type SQSClient,
} from '@aws-sdk/client-sqs';
import type { Prisma } from '../db/database.js';
import type { JobQueue, ReceivedMessage, SendOptions, Tx } from './job-queue.js';
import { OutboxRelay, writeOutboxRows, type OutboxLogger, type OutboxRelayOptions } from './outbox.js';
import { PRIORITY_RECEIPT_PREFIX, routeReceipt, SQS_PRIORITY_THRESHOLD } from './sqs-priority.js';

export interface SqsQueueOptions {
  /** Injected, so the caller decides region, endpoint (JOBS_SQS_ENDPOINT) and credentials. */
  client: SQSClient;
  queueUrl: string;
  /**
   * The queue of jobs with a priority above 0 (JOBS_SQS_PRIORITY_QUEUE_URL; core/queue/sqs-priority.ts),
   * dead-lettering to the same DLQ. Without it every job goes to `queueUrl`.
   */
  priorityQueueUrl?: string;
  /** The redrive policy's dead-letter queue, for `stats().deadLetters`. */
  dlqUrl?: string;
  /**
   * The job database, for the transactional outbox. Without it `send` with a transaction throws
   * and a failed direct send is not kept for a retry.
   */
  prisma?: Prisma;
  logger: OutboxLogger;
  /** The outbox relay; it runs in the background unless `false` (default: on when prisma is given). */
  relay?:
    | false
    | Pick<
        OutboxRelayOptions,
        'pollMs' | 'backoffBaseMs' | 'backoffMaxMs' | 'window' | 'windowExpiryMs' | 'listen'
      >;
  /** Upper bound of one SendMessage(Batch) call. Default 10 000. */
  publishTimeoutMs?: number;
}

/** SendMessage's DelaySeconds cannot exceed 15 minutes. */
const MAX_DELAY_SECONDS = 900;

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** The message body; the same shape as processor/processor.ts `encodeMessage`. */
function encodeMessage(jobId: string): string {
  return JSON.stringify({ jobId });
}

/**
 * The queue on Amazon SQS (production). SQS cannot join a database transaction, so `send(id, tx)`
 * writes a `job_outbox` row inside `tx` and an {@link OutboxRelay} publishes it after commit:
 * the message exists if and only if the job row committed, at the price of a possible duplicate
 * (at-least-once, which the processor tolerates).
 *
 * @example
 *   const queue = new SqsQueue({ client: new SQSClient({}), queueUrl, dlqUrl, prisma, logger });
 *   await prisma.$transaction((tx) => queue.send(jobId, tx));
 *   queue.afterCommit(); // publish now rather than at the relay's next poll
 */
export class SqsQueue implements JobQueue {
  private readonly client: SQSClient;
  private readonly queueUrl: string;
  private readonly relay?: OutboxRelay;
  private readonly publishTimeoutMs: number;

  constructor(private readonly opts: SqsQueueOptions) {
    this.client = opts.client;
    this.queueUrl = opts.queueUrl;
    this.publishTimeoutMs = opts.publishTimeoutMs ?? 10_000;
    if (opts.prisma) {
      this.relay = new OutboxRelay({
        prisma: opts.prisma,
        publish: (ids, urgent) => this.publish(ids, urgent),
        logger: opts.logger,
        ...(opts.relay || {}),
      });
      if (opts.relay !== false) this.relay.start();
    }
  }

  /** The relay of this queue's outbox (for tests and for running it by hand). */
  get outbox(): OutboxRelay | undefined {
    return this.relay;
  }

  async send(jobId: string, tx?: Tx, opts: SendOptions = {}): Promise<void> {
    const delay = Math.max(0, opts.delaySeconds ?? 0);
    if (tx) {
      if (!this.relay) throw new Error('SqsQueue: send in a transaction needs the database (prisma option)');
      // A delayed message waits in the outbox until it is due: no limit on the delay (SQS's
      // DelaySeconds stops at 15 minutes), and the job row stays the one place to look.
      await writeOutboxRows(tx, [jobId], { delaySeconds: delay });
      return;
    }
    try {
      await this.client.send(
        new SendMessageCommand({
          QueueUrl: this.queueUrl,
          MessageBody: encodeMessage(jobId),
          // SQS's limit; the outbox path above has none.
          ...(delay > 0 ? { DelaySeconds: Math.min(MAX_DELAY_SECONDS, Math.ceil(delay)) } : {}),
        }),
        { abortSignal: AbortSignal.timeout(this.publishTimeoutMs) },
      );
    } catch (err) {
      if (!this.opts.prisma) throw err;
      // Keep it for the relay: the caller's job must not be lost to a queue outage.
      this.opts.logger.warn({ err, jobId }, 'SQS send failed; queued in the outbox for a retry');
      await writeOutboxRows(this.opts.prisma, [jobId], {
        delaySeconds: delay,
        failure: (err as Error).message,
      });
    }
  }

  async sendMany(jobIds: readonly string[], tx?: Tx, opts: SendOptions = {}): Promise<void> {
    if (jobIds.length === 0) return;
    const delay = Math.max(0, opts.delaySeconds ?? 0);
    if (tx) {
      if (!this.relay) throw new Error('SqsQueue: send in a transaction needs the database (prisma option)');
      // One outbox row per job, in one statement; the relay publishes them after commit.
      await writeOutboxRows(tx, jobIds, { delaySeconds: delay });
      return;
    }
    if (delay > 0) {
      // SendMessageBatch entries could carry DelaySeconds, but only up to 15 minutes: one by one.
      for (const id of jobIds) await this.send(id, undefined, opts);
      return;
    }
    let published: string[] = [];
    let error: unknown;
    try {
      published = await this.publish([...jobIds]);
    } catch (err) {
      error = err;
    }
    const sent = new Set(published);
    const missed = jobIds.filter((id) => !sent.has(id));
    if (missed.length === 0) return;
    if (!this.opts.prisma) throw error ?? new Error(`SQS did not accept ${missed.length} of the messages`);
    // Keep them for the relay: the caller's jobs must not be lost to a queue outage.
    this.opts.logger.warn(
      { err: error, jobs: missed.length },
      'SQS send failed; queued in the outbox for a retry',
    );
    await writeOutboxRows(this.opts.prisma, missed, {
      failure: error instanceof Error ? error.message : 'not accepted by the queue',
    });
  }

  /** Wakes the outbox relay; call after a transaction that sent messages commits. */
  afterCommit(): void {
    this.relay?.kick();
  }

  /**
   * Sends one message per job with SendMessageBatch (10 per call): to the priority queue for the
   * jobs whose priority is above 0 when there is one (`known`, else read from their rows in one
   * query), else to the queue. Resolves with the ids SQS accepted; throws only when it accepted none.
   */
  async publish(jobIds: string[], known?: ReadonlySet<string>): Promise<string[]> {
    const { priorityQueueUrl, prisma } = this.opts;
    if (!priorityQueueUrl || (!known && !prisma)) return this.publishTo(this.queueUrl, jobIds);
    // The relay passes them (read in its transaction: on PGlite's one connection a query beside
    // it would wait for it); a direct send reads them here.
    const urgent =
      known ??
      new Set(
        (
          await prisma!.$queryRaw<{ id: string }[]>`
            SELECT id::text AS id FROM jobs
            WHERE id = ANY(string_to_array(${jobIds.join(',')}, ',')::uuid[])
              AND priority >= ${SQS_PRIORITY_THRESHOLD}`
        ).map((r) => r.id),
      );
    const groups: [string, string[]][] = [
      [priorityQueueUrl, jobIds.filter((id) => urgent.has(id))],
      [this.queueUrl, jobIds.filter((id) => !urgent.has(id))],
    ];
    const published: string[] = [];
    let error: unknown;
    for (const [url, ids] of groups) {
      if (ids.length === 0) continue;
      try {
        published.push(...(await this.publishTo(url, ids)));
      } catch (err) {
        error = err;
      }
    }
    if (published.length === 0 && error) throw error;
    return published;
  }

  private async publishTo(queueUrl: string, jobIds: string[]): Promise<string[]> {
    const published: string[] = [];
    for (let i = 0; i < jobIds.length; i += 10) {
      const chunk = jobIds.slice(i, i + 10);
      try {
        const res = await this.client.send(
          new SendMessageBatchCommand({
            QueueUrl: queueUrl,
            Entries: chunk.map((id, n) => ({ Id: String(n), MessageBody: encodeMessage(id) })),
          }),
          { abortSignal: AbortSignal.timeout(this.publishTimeoutMs) },
        );
        for (const s of res.Successful ?? []) published.push(chunk[Number(s.Id)]);
        if (res.Failed?.length) {
          this.opts.logger.warn({ failed: res.Failed }, 'SQS rejected some messages of a batch');
        }
      } catch (err) {
        if (published.length === 0) throw err;
        break;
      }
    }
    return published;
  }

  async receive(opts: { max: number; waitMs: number; signal?: AbortSignal }): Promise<ReceivedMessage[]> {
    if (opts.signal?.aborted) return [];
    // The long poll is NOT aborted with `signal`: SQS completes a receive whose client went away
    // and hides what it took for the whole visibility timeout. Letting the poll finish (at most
    // WaitTimeSeconds) returns those messages to the caller, who releases them when stopping.
    const receiveFrom = async (queueUrl: string, waitSeconds: number) =>
      (
        await this.client.send(
          new ReceiveMessageCommand({
            QueueUrl: queueUrl,
            MaxNumberOfMessages: Math.max(1, Math.min(10, opts.max)),
            WaitTimeSeconds: waitSeconds,
            // The legacy AttributeNames asks for the same, but SDK v3 types it for queue attributes.
            MessageSystemAttributeNames: ['ApproximateReceiveCount', 'SentTimestamp'],
          }),
        )
      ).Messages ?? [];
    // The priority queue first, without waiting; then the long poll of the queue.
    let prefix = '';
    let messages: Message[] = [];
    if (this.opts.priorityQueueUrl) {
      messages = await receiveFrom(this.opts.priorityQueueUrl, 0);
      if (messages.length > 0) prefix = PRIORITY_RECEIPT_PREFIX;
    }
    if (messages.length === 0)
      messages = await receiveFrom(this.queueUrl, Math.min(20, Math.ceil(Math.max(0, opts.waitMs) / 1000)));
    const out: ReceivedMessage[] = [];
    for (const m of messages) {
      const jobId = parseJobId(m.Body);
      if (!m.ReceiptHandle || !m.MessageId) continue;
      if (!jobId) {
        // Redelivering it would only fail again until it is dead-lettered; nothing can run it.
        this.opts.logger.warn(
          { messageId: m.MessageId, body: m.Body?.slice(0, 200) },
          'deleting a malformed message',
        );
        await this.delete(prefix + m.ReceiptHandle);
        continue;
      }
      out.push({
        messageId: m.MessageId,
        jobId,
        receiptHandle: prefix + m.ReceiptHandle,
        receiveCount: Number(m.Attributes?.ApproximateReceiveCount ?? 1),
        sentAt: new Date(Number(m.Attributes?.SentTimestamp ?? Date.now())),
      });
    }
    return out;
  }

  async deadLetter(receiptHandle: string, jobId: string): Promise<boolean> {
    if (!this.opts.dlqUrl) return false;
    // Copy to the DLQ first, then delete: a crash in between leaves a copy in both, never none.
    await this.client.send(
      new SendMessageCommand({ QueueUrl: this.opts.dlqUrl, MessageBody: encodeMessage(jobId) }),
    );
    await this.delete(receiptHandle);
    return true;
  }

  /**
   * Moves the DLQ's messages back to the source queue: receive from the DLQ, send to the queue,
   * then delete from the DLQ (a crash in between leaves a copy in both, never none). Messages of
   * jobs in `requeued` were already queued again through the outbox and are only deleted.
   * (StartMessageMoveTask would do the move server-side, but it cannot skip those, and the
   * emulator the tests run against does not implement it.)
   */
  async redriveDeadLetters(requeued: ReadonlySet<string>): Promise<{ moved: number; dropped: number }> {
    const dlqUrl = this.opts.dlqUrl;
    if (!dlqUrl) return { moved: 0, dropped: 0 };
    let moved = 0;
    let dropped = 0;
    // Bounded: messages received here stay hidden in the DLQ, so the loop ends on an empty
    // receive; the cap guards against a DLQ that is refilled as fast as it is drained.
    for (let round = 0; round < 1000; round++) {
      const res = await this.client.send(
        new ReceiveMessageCommand({
          QueueUrl: dlqUrl,
          MaxNumberOfMessages: 10,
          WaitTimeSeconds: 1,
          VisibilityTimeout: 60,
        }),
      );
      const messages = (res.Messages ?? []).filter((m) => m.ReceiptHandle);
      if (messages.length === 0) break;
      const toMove = messages.filter((m) => {
        const jobId = parseJobId(m.Body);
        return jobId !== undefined && !requeued.has(jobId);
      });
      if (toMove.length > 0) {
        const sent = await this.client.send(
          new SendMessageBatchCommand({
            QueueUrl: this.queueUrl,
            Entries: toMove.map((m, n) => ({ Id: String(n), MessageBody: m.Body! })),
          }),
        );
        const failed = new Set((sent.Failed ?? []).map((f) => Number(f.Id)));
        if (failed.size > 0) {
          // Left hidden in the DLQ; they reappear there for the next redrive.
          this.opts.logger.warn({ failed: sent.Failed }, 'redrive: SQS refused some messages');
        }
        for (const [n, m] of toMove.entries()) {
          if (failed.has(n)) continue;
          await this.deleteFrom(dlqUrl, m.ReceiptHandle!);
          moved++;
        }
      }
      for (const m of messages) {
        if (toMove.includes(m)) continue;
        // A fresh message was queued for this job (or the body is not a job message at all).
        await this.deleteFrom(dlqUrl, m.ReceiptHandle!);
        dropped++;
      }
    }
    return { moved, dropped };
  }

  private async deleteFrom(queueUrl: string, receiptHandle: string): Promise<void> {
    await this.client.send(new DeleteMessageCommand({ QueueUrl: queueUrl, ReceiptHandle: receiptHandle }));
  }

  /** The queue and SQS receipt handle of one of this queue's receipts (core/queue/sqs-priority.ts). */
  private route(receipt: string) {
    return routeReceipt(receipt, this.queueUrl, this.opts.priorityQueueUrl);
  }

  async delete(receipt: string): Promise<void> {
    const { queueUrl, receiptHandle } = this.route(receipt);
    try {
      await this.client.send(new DeleteMessageCommand({ QueueUrl: queueUrl, ReceiptHandle: receiptHandle }));
    } catch (err) {
      if (!isStaleReceipt(err)) throw err;
    }
  }

  async changeVisibility(receipt: string, seconds: number): Promise<void> {
    const { queueUrl, receiptHandle } = this.route(receipt);
    try {
      await this.client.send(
        new ChangeMessageVisibilityCommand({
          QueueUrl: queueUrl,
          ReceiptHandle: receiptHandle,
          VisibilityTimeout: seconds,
        }),
      );
    } catch (err) {
      if (!isStaleReceipt(err)) throw err;
    }
  }

  /**
   * From GetQueueAttributes: `waiting` is the visible messages plus the outbox rows not yet
   * published (jobs waiting all the same), `inFlight` the messages not visible, `deadLetters` the
   * DLQ's messages (0 without dlqUrl). SQS has no attribute for the oldest message's age (that is
   * CloudWatch's ApproximateAgeOfOldestMessage), so `oldestAgeSeconds` is the age of the oldest
   * unpublished outbox row, or 0: a backlog the relay holds back for fair sharing between owners
   * (outbox.ts), or a stuck relay.
   */
  async stats() {
    const none = { visible: 0, notVisible: 0, delayed: 0 };
    const [main, urgent, dlq, outbox] = await Promise.all([
      this.attributes(this.queueUrl),
      this.opts.priorityQueueUrl ? this.attributes(this.opts.priorityQueueUrl) : none,
      this.opts.dlqUrl ? this.attributes(this.opts.dlqUrl) : undefined,
      this.outboxStats(),
    ]);
    return {
      waiting: main.visible + main.delayed + urgent.visible + urgent.delayed + outbox.count,
      inFlight: main.notVisible + urgent.notVisible,
      deadLetters: dlq ? dlq.visible + dlq.notVisible + dlq.delayed : 0,
      oldestAgeSeconds: outbox.oldestAgeSeconds,
    };
  }

  async close(): Promise<void> {
    await this.relay?.stop();
  }

  private async attributes(url: string) {
    const res = await this.client.send(
      new GetQueueAttributesCommand({
        QueueUrl: url,
        AttributeNames: [
          'ApproximateNumberOfMessages',
          'ApproximateNumberOfMessagesNotVisible',
          'ApproximateNumberOfMessagesDelayed',
        ],
      }),
    );
    const n = (name: string) => Number(res.Attributes?.[name as keyof typeof res.Attributes] ?? 0);
    return {
      visible: n('ApproximateNumberOfMessages'),
      notVisible: n('ApproximateNumberOfMessagesNotVisible'),
      delayed: n('ApproximateNumberOfMessagesDelayed'),
    };
  }

  private async outboxStats(): Promise<{ count: number; oldestAgeSeconds: number }> {
    if (!this.opts.prisma) return { count: 0, oldestAgeSeconds: 0 };
    const [row] = await this.opts.prisma.$queryRaw<{ n: bigint; oldest: number | null }[]>`
      SELECT count(*) AS n, extract(epoch FROM now() - min(created_at))::float8 AS oldest FROM job_outbox`;
    return { count: Number(row.n), oldestAgeSeconds: row.oldest ?? 0 };
  }
}

function parseJobId(body: string | undefined): string | undefined {
  try {
    const parsed: unknown = JSON.parse(body ?? '');
    const jobId = (parsed as { jobId?: unknown } | null)?.jobId;
    return typeof jobId === 'string' && UUID.test(jobId) ? jobId : undefined;
  } catch {
    return undefined;
  }
}

/** A receipt from an earlier receive, or of a message already deleted: like DbQueue, ignored. */
function isStaleReceipt(err: unknown): boolean {
  const e = err as { name?: string; message?: string };
  if (e.name === 'ReceiptHandleIsInvalid' || e.name === 'MessageNotInflight') return true;
  // Real SQS: "Value … for parameter ReceiptHandle is invalid. Reason: The receipt handle has expired."
  return e.name === 'InvalidParameterValue' && /receipt ?handle/i.test(e.message ?? '');
}
