import type { Database } from '../db/database.js';
import type { JobQueue, ReceivedMessage, SendOptions, Tx } from './job-queue.js';

/** The NOTIFY channel that wakes receivers (the job store's one-statement create sends on it too). */
export const QUEUE_CHANNEL = 'jobs_queue';

/**
 * Notifications a `sendMany` issues: each wakes one idle receiver of every listening process (a
 * receiver takes one message at a time), and PostgreSQL folds identical notifications of one
 * transaction into one, so a batch sends this many distinct ones (more would wake nobody more:
 * a process rarely has more idle receivers; a receiver that finishes a job claims again before
 * it sleeps).
 */
export const MAX_WAKES_PER_BATCH = 32;

/** The owner of a message whose job row was not found when it was sent (the migration's default). */
export const NO_OWNER = '00000000-0000-0000-0000-000000000000';

export interface DbQueueOptions {
  visibilityTimeoutSeconds: number;
  /** A message received this many times is dead-lettered instead of delivered again. */
  maxReceives: number;
  /** Safety-net poll while idle; new messages wake receivers at once through NOTIFY. */
  idlePollMs?: number;
  /**
   * Stop listening once no receiver has waited for this long (default 10 s). PostgreSQL wakes
   * every LISTENing backend of the database at each commit that notifies, whatever its channels,
   * and each reads the notification queue in a transaction: a process whose receivers all find
   * work needs no wake-up and should not cost one per commit (BENCHMARKS.md, throughput). A
   * receiver that finds nothing listens again, and looks once more, before it waits.
   */
  unlistenAfterMs?: number;
}

interface MessageRow {
  id: bigint;
  job_id: string;
  receipt_handle: string;
  receive_count: number;
  sent_at: Date;
}

/**
 * The queue as a table in the job database (the embedded default, and Postgres without SQS).
 * Receivers claim rows with FOR UPDATE SKIP LOCKED, so any number of workers share the table
 * without handing one message to two of them inside its visibility timeout. `send` issues a
 * NOTIFY inside the sender's transaction; Postgres delivers it on commit, waking receivers at once.
 */
export class DbQueue implements JobQueue {
  private readonly waiters = new Set<() => void>();
  private unlisten?: Promise<() => Promise<void>>;
  /** LISTEN is in place: a NOTIFY sent from now on reaches this process. */
  private listening = false;
  /** When a receiver last waited (or stopped waiting): the LISTEN's use. */
  private lastWaitAt = 0;
  private idleCheck?: NodeJS.Timeout;
  private closed = false;
  private readonly idlePollMs: number;
  private readonly unlistenAfterMs: number;

  constructor(
    private readonly db: Database,
    private readonly opts: DbQueueOptions,
  ) {
    this.idlePollMs = opts.idlePollMs ?? 1000;
    this.unlistenAfterMs = opts.unlistenAfterMs ?? 10_000;
  }

  async send(jobId: string, tx?: Tx, opts: SendOptions = {}): Promise<void> {
    return this.sendMany([jobId], tx, opts);
  }

  async sendMany(jobIds: readonly string[], tx?: Tx, opts: SendOptions = {}): Promise<void> {
    if (jobIds.length === 0) return;
    const delay = Math.max(0, opts.delaySeconds ?? 0);
    // One statement: the rows, then the wake-ups (distinct payloads, see MAX_WAKES_PER_BATCH),
    // delivered on commit like `send`'s. The ids go as one comma-separated text (uuids hold no
    // commas): a thousand-element array parameter costs the driver more than the insert. Each
    // message carries its job's owner, type and priority for the claim's ranking (claim-next.ts),
    // read from the job row (in the sender's transaction, so a job inserted just before is seen).
    const run = (t: Pick<Tx, '$queryRaw'>) => t.$queryRaw`
      WITH sent AS (
        INSERT INTO queue_messages (job_id, visible_at, owner_id, job_type, priority)
        SELECT ids.id, now() + make_interval(secs => ${delay}::float8),
               coalesce(j.owner_id, ${NO_OWNER}::uuid), coalesce(j.type, ''), coalesce(j.priority, 0)
        FROM unnest(string_to_array(${jobIds.join(',')}, ',')::uuid[]) WITH ORDINALITY AS ids(id, ord)
        LEFT JOIN jobs j ON j.id = ids.id
        ORDER BY ids.ord
        RETURNING 1
      )
      SELECT count(pg_notify(${QUEUE_CHANNEL}, n::text))::int AS woken
      FROM generate_series(1, least((SELECT count(*) FROM sent), ${MAX_WAKES_PER_BATCH})) AS n`;
    if (tx) await run(tx);
    else await this.db.prisma.$transaction((t) => run(t));
  }

  get claimSettings() {
    return { maxReceives: this.opts.maxReceives };
  }

  receive(opts: { max: number; waitMs: number; signal?: AbortSignal }): Promise<ReceivedMessage[]> {
    return this.receiveWith((max) => this.claim(max), opts);
  }

  async receiveWith<M>(
    claim: (max: number) => Promise<M[]>,
    opts: { max: number; waitMs: number; signal?: AbortSignal },
  ): Promise<M[]> {
    const deadline = Date.now() + opts.waitMs;
    for (;;) {
      const got = await claim(opts.max);
      if (got.length > 0 || opts.signal?.aborted) return got;
      // Not listening (not yet, or no longer: every receiver found work for a while): listen, then
      // look once more before waiting. A message sent before LISTEN took effect is found by that
      // look, one sent after wakes a receiver. If LISTEN fails, the idle poll finds new work.
      if (!this.listening && (await this.listen())) continue;
      const left = deadline - Date.now();
      if (left <= 0) return [];
      await this.wake(Math.min(left, this.idlePollMs), opts.signal);
    }
  }

  private async claim(max: number): Promise<ReceivedMessage[]> {
    const { visibilityTimeoutSeconds: vis, maxReceives } = this.opts;
    // Like SQS's redrive policy: a message already received maxReceives times goes to the
    // dead letters instead of being delivered again. Both in one statement (one round trip per
    // receive): the two updates touch disjoint rows (receive_count at or over the limit, under it).
    const rows = await this.db.prisma.$queryRaw<MessageRow[]>`
      WITH dead AS (
        UPDATE queue_messages SET dead_lettered_at = now()
        WHERE dead_lettered_at IS NULL AND visible_at <= now() AND receive_count >= ${maxReceives}
        RETURNING id
      ), picked AS (
        SELECT id FROM queue_messages
        WHERE dead_lettered_at IS NULL AND visible_at <= now() AND receive_count < ${maxReceives}
        ORDER BY visible_at, id
        LIMIT ${max}
        FOR UPDATE SKIP LOCKED
      )
      UPDATE queue_messages q
      SET receive_count = q.receive_count + 1,
          visible_at = now() + make_interval(secs => ${vis}),
          receipt_handle = gen_random_uuid()
      FROM picked WHERE q.id = picked.id
      RETURNING q.id, q.job_id, q.receipt_handle::text AS receipt_handle, q.receive_count, q.sent_at`;
    return rows.map((r) => ({
      messageId: String(r.id),
      jobId: r.job_id,
      receiptHandle: r.receipt_handle,
      receiveCount: r.receive_count,
      sentAt: r.sent_at,
    }));
  }

  delete(receiptHandle: string): Promise<void> {
    return this.deleteIn(receiptHandle, this.db.prisma);
  }

  async deleteIn(receiptHandle: string, tx: Pick<Tx, '$executeRaw'>): Promise<void> {
    // A dead letter stays, whoever acknowledges it afterwards.
    await tx.$executeRaw`
      DELETE FROM queue_messages WHERE receipt_handle = ${receiptHandle}::uuid AND dead_lettered_at IS NULL`;
  }

  async deadLetter(receiptHandle: string): Promise<boolean> {
    await this.db.prisma.$executeRaw`
      UPDATE queue_messages SET dead_lettered_at = now() WHERE receipt_handle = ${receiptHandle}::uuid`;
    return true;
  }

  async changeVisibility(receiptHandle: string, seconds: number): Promise<void> {
    await this.db.prisma.$executeRaw`
      UPDATE queue_messages SET visible_at = now() + make_interval(secs => ${seconds})
      WHERE receipt_handle = ${receiptHandle}::uuid AND dead_lettered_at IS NULL`;
    if (seconds === 0) this.wakeOne();
  }

  /**
   * The dead-letter rows become ordinary messages again (visible now, a fresh receive count),
   * except those of jobs that have a live message already (e.g. just queued again by a redrive),
   * which are deleted: one message per job is enough.
   */
  async redriveDeadLetters(
    requeued: ReadonlySet<string> = new Set(),
  ): Promise<{ moved: number; dropped: number }> {
    // A job just requeued may already have run and had its fresh message acknowledged: its dead
    // letter is dropped by name, not only when a live message of the job is still there.
    const [dropped, moved] = await this.db.prisma.$transaction([
      this.db.prisma.$executeRaw`
        DELETE FROM queue_messages d
        WHERE d.dead_lettered_at IS NOT NULL
          AND (d.job_id = ANY(${[...requeued]}::uuid[]) OR EXISTS (
            SELECT 1 FROM queue_messages m
            WHERE m.job_id = d.job_id AND (m.dead_lettered_at IS NULL OR m.id < d.id)))`,
      this.db.prisma.$executeRaw`
        UPDATE queue_messages
        SET dead_lettered_at = NULL, receive_count = 0, visible_at = now(), receipt_handle = NULL
        WHERE dead_lettered_at IS NOT NULL`,
      this.db.prisma.$executeRaw`SELECT pg_notify(${QUEUE_CHANNEL}, '')`,
    ]);
    this.wakeAll();
    return { moved, dropped };
  }

  /**
   * Makes every in-flight message visible again. Only for the embedded database at start-up:
   * PGlite is owned by one process, so whatever was in flight belonged to a process that died.
   */
  async recover(): Promise<number> {
    return this.db.prisma.$executeRaw`
      UPDATE queue_messages SET visible_at = now()
      WHERE dead_lettered_at IS NULL AND visible_at > now() AND receive_count > 0`;
  }

  async stats() {
    const [row] = await this.db.prisma.$queryRaw<
      { waiting: bigint; in_flight: bigint; dead: bigint; oldest: number | null }[]
    >`
      SELECT count(*) FILTER (WHERE dead_lettered_at IS NULL AND visible_at <= now()) AS waiting,
             count(*) FILTER (WHERE dead_lettered_at IS NULL AND visible_at > now()) AS in_flight,
             count(*) FILTER (WHERE dead_lettered_at IS NOT NULL) AS dead,
             extract(epoch FROM now() - min(sent_at) FILTER (WHERE dead_lettered_at IS NULL))::float8 AS oldest
      FROM queue_messages`;
    return {
      waiting: Number(row.waiting),
      inFlight: Number(row.in_flight),
      deadLetters: Number(row.dead),
      oldestAgeSeconds: row.oldest ?? 0,
    };
  }

  async close(): Promise<void> {
    this.closed = true; // a receiver still looping polls; it does not LISTEN again
    this.wakeAll();
    await this.stopListening();
  }

  /** LISTENs (one subscription for all receivers); resolves whether it is in place. */
  private async listen(): Promise<boolean> {
    if (this.closed) return false;
    // After a lost LISTEN connection is back, every receiver looks at once for what it missed.
    const unlisten = (this.unlisten ??= this.db.listen(QUEUE_CHANNEL, () => this.wakeOne(), {
      onReconnect: () => this.wakeAll(),
    }));
    try {
      await unlisten;
    } catch {
      // Connection trouble: the idle poll finds new work; the next receiver that waits tries again.
      if (this.unlisten === unlisten) this.unlisten = undefined;
      return false;
    }
    if (this.unlisten !== unlisten) return false; // dropped meanwhile (close, or idle)
    this.listening = true;
    this.lastWaitAt = Date.now();
    this.idleCheck ??= setInterval(() => {
      if (this.waiters.size === 0 && Date.now() - this.lastWaitAt >= this.unlistenAfterMs)
        void this.stopListening().catch(() => {}); // the connection is going either way
    }, this.unlistenAfterMs);
    this.idleCheck.unref();
    return true;
  }

  private async stopListening(): Promise<void> {
    const unlisten = this.unlisten;
    this.unlisten = undefined;
    this.listening = false;
    clearInterval(this.idleCheck);
    this.idleCheck = undefined;
    if (unlisten) await (await unlisten.catch(() => async () => {}))();
  }

  /**
   * One notification is one message: wake one idle receiver for it. Waking every receiver of
   * this process sent them all to claim the one message, and all but one came back empty (a
   * wasted round trip each; bench:throughput counted them). A receiver that is busy when the
   * notification comes claims the message itself before it waits again.
   */
  private wakeOne(): void {
    const first = this.waiters.values().next();
    if (!first.done) first.value(); // removes itself from `waiters`
  }

  private wakeAll(): void {
    for (const wake of [...this.waiters]) wake();
  }

  private wake(ms: number, signal?: AbortSignal): Promise<void> {
    this.lastWaitAt = Date.now();
    return new Promise((resolve) => {
      const done = () => {
        this.lastWaitAt = Date.now();
        clearTimeout(timer);
        signal?.removeEventListener('abort', done);
        this.waiters.delete(done);
        resolve();
      };
      const timer = setTimeout(done, ms);
      signal?.addEventListener('abort', done, { once: true });
      this.waiters.add(done);
    });
  }
}
