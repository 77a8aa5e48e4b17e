import type { JobQueue, ReceivedMessage, SendOptions, Tx } from './queue/job-queue.js';

/**
 * A job queue opened at its first use rather than at start. The processor Lambda is composed
 * with one around SQS: its deliveries come in the event, and it calls the queue to extend a
 * delivery's visibility (every job, before its claim: a signed request given as
 * `direct.changeVisibility`, no SDK), to dead-letter a delivery or to queue a retry. A cold start
 * whose first job needs only the first never loads the SQS client (BENCHMARKS.md `## lambda`).
 *
 * `afterCommit` calls the opened queue's: before the queue is opened no message was sent through
 * it, so there is nothing to wake. `recover` is not offered (a shared queue must not recover).
 *
 * @example
 *   const queue = new LazyJobQueue(() => openSqsQueue(config, url, db, false));
 */
export class LazyJobQueue implements JobQueue {
  private opened?: Promise<JobQueue>;
  private queue?: JobQueue;

  /**
   * `changeVisibility`, when given, is tried first without opening the queue (a signed request,
   * core/aws/change-message-visibility.ts); it resolves false where it does not apply.
   */
  constructor(
    private readonly open: () => Promise<JobQueue>,
    private readonly direct: {
      changeVisibility?(receiptHandle: string, seconds: number): Promise<boolean>;
    } = {},
  ) {}

  private opening(): Promise<JobQueue> {
    this.opened ??= this.open().then(
      (queue) => (this.queue = queue),
      (err: unknown) => {
        this.opened = undefined; // the next use tries again
        throw err;
      },
    );
    return this.opened;
  }

  async send(jobId: string, tx?: Tx, opts?: SendOptions): Promise<void> {
    return (await this.opening()).send(jobId, tx, opts);
  }

  async sendMany(jobIds: readonly string[], tx?: Tx, opts?: SendOptions): Promise<void> {
    return (await this.opening()).sendMany(jobIds, tx, opts);
  }

  afterCommit(): void {
    this.queue?.afterCommit?.();
  }

  async receive(opts: { max: number; waitMs: number; signal?: AbortSignal }): Promise<ReceivedMessage[]> {
    return (await this.opening()).receive(opts);
  }

  async delete(receiptHandle: string): Promise<void> {
    return (await this.opening()).delete(receiptHandle);
  }

  async deadLetter(receiptHandle: string, jobId: string): Promise<boolean> {
    return (await this.opening()).deadLetter(receiptHandle, jobId);
  }

  async changeVisibility(receiptHandle: string, seconds: number): Promise<void> {
    if (await this.direct.changeVisibility?.(receiptHandle, seconds)) return;
    return (await this.opening()).changeVisibility(receiptHandle, seconds);
  }

  async stats(): Promise<{
    waiting: number;
    inFlight: number;
    deadLetters: number;
    oldestAgeSeconds: number;
  }> {
    return (await this.opening()).stats();
  }

  async redriveDeadLetters(requeued: ReadonlySet<string>): Promise<{ moved: number; dropped: number }> {
    return (await this.opening()).redriveDeadLetters(requeued);
  }

  /** Closes the queue if it was opened (a queue still opening is waited for, then closed). */
  async close(): Promise<void> {
    const opened = this.opened;
    if (!opened) return;
    const queue = await opened.catch(() => undefined);
    await queue?.close();
  }
}
