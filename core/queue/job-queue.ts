import type { Prisma } from '../db/database.js';

/** A Prisma interactive-transaction client, for work that must commit with the Job row. */
export type Tx = Parameters<Parameters<Prisma['$transaction']>[0]>[0];

/** A received message: the job id only; the job row is the truth. */
export interface ReceivedMessage {
  messageId: string;
  jobId: string;
  /** Changes on every receive; pass it back to delete or extend this delivery. */
  receiptHandle: string;
  /** How many times the message has been received, this time included (SQS ApproximateReceiveCount). */
  receiveCount: number;
  sentAt: Date;
}

export interface SendOptions {
  /** Deliver no sooner than this many seconds from now (default 0). */
  delaySeconds?: number;
}

/**
 * The job queue, with SQS semantics: at-least-once delivery, a visibility timeout after each
 * receive, a receive count, dead letters after too many receives. Implemented by a database
 * table (embedded default) and by SQS (production).
 */
export interface JobQueue {
  /**
   * Queues a job. With `tx`, the message commits (or not) with that transaction, so a job row
   * never exists without its message. `delaySeconds` keeps it invisible that long first (a retry's
   * backoff).
   */
  send(jobId: string, tx?: Tx, opts?: SendOptions): Promise<void>;
  /**
   * Queues several jobs at once, as `send` does one (same `tx` and `delaySeconds` semantics), in
   * one statement (the database queue: one multi-row INSERT; SQS: one multi-row outbox INSERT in
   * `tx`, or SendMessageBatch calls without one). A batch of jobs costs one round trip, not one each.
   */
  sendMany(jobIds: readonly string[], tx?: Tx, opts?: SendOptions): Promise<void>;
  /** Called after a transaction that sent messages commits (SQS: wakes the outbox relay at once). */
  afterCommit?(): void;
  /**
   * Receives up to `max` visible messages, waiting up to `waitMs` for one to arrive (long
   * polling). Resolves early, possibly empty, when `signal` aborts.
   */
  receive(opts: { max: number; waitMs: number; signal?: AbortSignal }): Promise<ReceivedMessage[]>;
  /** Acknowledges a delivery. A stale receipt (the message was received again since) is ignored. */
  delete(receiptHandle: string): Promise<void>;
  /**
   * A queue in the job database only: acknowledges a delivery inside `tx`, so a job's outcome and
   * the end of its message commit together (one transaction instead of two).
   */
  deleteIn?(receiptHandle: string, tx: Tx): Promise<void>;
  /**
   * A queue in the job database only: `receive`'s wait (NOTIFY wake-ups, the idle poll) around
   * another claim of its messages: the job store's, which claims each message's job in the same
   * statement (core/jobs/store/claim-next.ts).
   */
  receiveWith?<M>(
    claim: (max: number) => Promise<M[]>,
    opts: { max: number; waitMs: number; signal?: AbortSignal },
  ): Promise<M[]>;
  /** The receive limit a claim in the job database must apply (the claimer sets the visibility). */
  readonly claimSettings?: { maxReceives: number };
  /**
   * Moves a delivery to the dead letters now (the job was given up on). Resolves false when this
   * adapter cannot (SQS without a DLQ URL): leave the message, and the redrive policy moves it.
   */
  deadLetter(receiptHandle: string, jobId: string): Promise<boolean>;
  /** Hides the message for `seconds` more from now (0 = visible again at once). */
  changeVisibility(receiptHandle: string, seconds: number): Promise<void>;
  /** Messages waiting (visible or in flight) and the age of the oldest, for metrics and probes. */
  stats(): Promise<{ waiting: number; inFlight: number; deadLetters: number; oldestAgeSeconds: number }>;
  /**
   * Sends the queue's dead letters back to be delivered again (SQS: from the DLQ to the source
   * queue; the database queue: its dead-lettered rows). Dead letters of the jobs in `requeued`
   * (which were just queued again with a fresh message) are dropped instead, so no job gets two
   * messages. Needs the DLQ URL on SQS (without it, nothing is moved).
   */
  redriveDeadLetters(requeued: ReadonlySet<string>): Promise<{ moved: number; dropped: number }>;
  /**
   * Crash recovery at start-up, for a queue this process alone owns (the embedded database's
   * table): what was in flight belonged to a process that died, so it is visible again now.
   * Optional: a shared queue (SQS, or a table many workers share) must not have it called.
   */
  recover?(): Promise<unknown>;
  close(): Promise<void>;
}
