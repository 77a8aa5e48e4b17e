import type { Logger } from 'pino';
import type { Database, Prisma } from '../db/database.js';
import { markDispatched } from '../jobs/store/dispatched.js';
import type { Tx } from './job-queue.js';
import { NO_OWNER } from './db-queue.js';
import { SQS_PRIORITY_THRESHOLD } from './sqs-priority.js';
import { Prisma as P } from '../db/generated/client.js';

/**
 * NOTIFY channel that wakes the relays: a claim of a PENDING job (core/jobs/store/claim.ts) frees
 * a place in its owner's window of messages sent and not yet started.
 */
export const OUTBOX_CHANNEL = 'jobs_outbox';

/**
 * How long a sent message counts in its owner's window when its job does not start: past it the
 * message is taken for lost (deleted from SQS by hand or by a redrive, expired, dead-lettered
 * while its job stayed PENDING) and no longer holds a place; if it was only slow, the owner has
 * that many more messages in SQS for a while.
 */
export const DISPATCH_EXPIRY_MS = 5 * 60_000;

/** How many (owner, priority) keys of outbox rows one fair round looks at (as claim-next.ts's CLAIM_KEYS). */
export const RELAY_KEYS = 64;

/**
 * Writes one outbox row per job in one statement, with the job's owner and priority copied from
 * its row (read in the caller's transaction, so a job inserted just before is seen): what the fair
 * relay ranks by. `delaySeconds`: due that much later. `failure`: a direct send that failed (the
 * row starts at one attempt, with that error).
 */
export async function writeOutboxRows(
  db: Pick<Tx, '$executeRaw'>,
  jobIds: readonly string[],
  opts: { delaySeconds?: number; failure?: string } = {},
): Promise<void> {
  if (jobIds.length === 0) return;
  const delay = Math.max(0, opts.delaySeconds ?? 0);
  // The ids go as one comma-separated text (uuids hold no commas), as the database queue's send.
  // A LEFT JOIN: a missing job still fails on the foreign key, as it always did.
  await db.$executeRaw`
    INSERT INTO job_outbox (job_id, next_attempt_at, attempts, last_error, owner_id, priority)
    SELECT ids.id, now() + make_interval(secs => ${delay}::float8),
           ${opts.failure === undefined ? 0 : 1}::int, ${opts.failure ?? null}::text,
           coalesce(j.owner_id, ${NO_OWNER}::uuid), coalesce(j.priority, 0)
    FROM unnest(string_to_array(${jobIds.join(',')}, ',')::uuid[]) AS ids(id)
    LEFT JOIN jobs j ON j.id = ids.id`;
}

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
  /**
   * Fair sharing between owners (JOBS_SQS_DISPATCH_WINDOW): at most this many of an owner's
   * messages sent and not yet started; rows are sent round the owners. 0 or unset: every due row
   * is sent at once, oldest first.
   */
  window?: number;
  /** How long a sent message counts in the window if its job does not start. Default DISPATCH_EXPIRY_MS. */
  windowExpiryMs?: number;
  /**
   * LISTEN for OUTBOX_CHANNEL (Database.listen), so a claim in another process (a Lambda, a
   * `jobs worker`) wakes the relay at once to fill its owner's window; without it, the poll does.
   */
  listen?: Database['listen'];
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
 * Fair sharing (`window`): SQS keeps (roughly) the order messages arrive in, so an owner's
 * thousand messages sent at once would all run before another owner's one. Instead the relay
 * keeps at most `window` of an owner's messages sent and not yet started: a PENDING job whose
 * message was sent (`jobs.dispatched_at`) within `windowExpiryMs` and which has no outbox row
 * left. The rest wait here, and each round sends, round the owners with room, the rows of the
 * owners with the fewest jobs sent-and-waiting plus running first, then by priority, then by age;
 * so another owner's one job is sent at once and waits behind at most `window` of the first
 * owner's. A claim (PENDING to RUNNING) frees a place and NOTIFYs OUTBOX_CHANNEL, which wakes the
 * relay. Relays on several hosts count in their own snapshots: for a moment an owner may have up
 * to `window` per relay in SQS.
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
  private readonly window: number;
  private readonly expirySeconds: number;
  private loop?: Promise<void>;
  private unlisten?: Promise<(() => Promise<void>) | undefined>;
  private stopped = false;
  private kicked = false;
  private wakeUp?: () => void;

  constructor(private readonly opts: OutboxRelayOptions) {
    this.pollMs = opts.pollMs ?? 1000;
    this.baseSeconds = (opts.backoffBaseMs ?? 1000) / 1000;
    this.maxSeconds = (opts.backoffMaxMs ?? 60_000) / 1000;
    this.batchSize = opts.batchSize ?? 10;
    this.txTimeoutMs = opts.transactionTimeoutMs ?? 30_000;
    this.window = Math.max(0, opts.window ?? 0);
    this.expirySeconds = (opts.windowExpiryMs ?? DISPATCH_EXPIRY_MS) / 1000;
  }

  /** Starts relaying in the background until `stop()`. Idempotent. */
  start(): void {
    if (this.loop || this.stopped) return;
    if (this.window > 0 && this.opts.listen) {
      // A lost LISTEN connection may have missed wake-ups: look at once when it is back. A
      // failed LISTEN leaves the poll to notice freed places.
      this.unlisten = this.opts
        .listen(OUTBOX_CHANNEL, () => this.kick(), { onReconnect: () => this.kick() })
        .catch((err: unknown) => {
          this.opts.logger.warn({ err }, 'outbox: LISTEN failed; relying on the poll');
          return undefined;
        });
    }
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
    await (
      await this.unlisten
    )?.();
  }

  /**
   * Claims one batch of due rows (round the owners within their windows, when fair), publishes
   * them and deletes the published ones (failed ones are rescheduled). Returns how many rows were
   * claimed and how many published.
   */
  async relayOnce(): Promise<{ claimed: number; published: number }> {
    return this.opts.prisma.$transaction(
      async (tx) => {
        const rows = this.window > 0 ? await this.claimFair(tx) : await this.claimOldest(tx);
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
        if (published.length > 0 && this.window > 0) {
          // Each now counts in its owner's window until its claim (or its expiry).
          await markDispatched(tx, published);
        }
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

  /** Without a window: the due rows, oldest first. */
  private claimOldest(tx: Pick<Tx, '$queryRaw'>): Promise<OutboxRow[]> {
    return tx.$queryRaw<OutboxRow[]>`
      SELECT o.id, o.job_id::text AS job_id, coalesce(j.priority, 0) >= ${SQS_PRIORITY_THRESHOLD} AS urgent
      FROM job_outbox o LEFT JOIN jobs j ON j.id = o.job_id
      WHERE o.next_attempt_at <= now()
      ORDER BY o.next_attempt_at, o.id
      LIMIT ${this.batchSize}
      FOR UPDATE OF o SKIP LOCKED`;
  }

  /**
   * With a window: the distinct (owner, priority) keys of the outbox (a skip scan of the
   * (owner_id, priority, next_attempt_at, id) index, at most RELAY_KEYS of them from a random owner
   * on, wrapping round, as the database queue's claim walks its keys), each owner's room (the
   * window less its jobs sent and not yet started), then up to that many due rows of each key,
   * oldest first, FOR UPDATE SKIP LOCKED; ranked by the owner's jobs sent-and-waiting plus running
   * plus the row's place in the owner's line (priority, then age). Bounded (keys × window rows)
   * and indexed however long the backlog is.
   */
  private claimFair(tx: Pick<Tx, '$queryRaw'>): Promise<OutboxRow[]> {
    return tx.$queryRaw<OutboxRow[]>`
      WITH RECURSIVE start AS (
        SELECT gen_random_uuid() AS owner_id
      ), keys AS (
        SELECT * FROM (
          (SELECT o.owner_id, o.priority, false AS wrapped FROM job_outbox o
           WHERE o.owner_id >= (SELECT owner_id FROM start)
           ORDER BY o.owner_id, o.priority LIMIT 1)
          UNION ALL
          (SELECT o.owner_id, o.priority, true FROM job_outbox o
           ORDER BY o.owner_id, o.priority LIMIT 1)
          LIMIT 1
        ) first_key
        UNION ALL
        SELECT nx.owner_id, nx.priority, nx.wrapped
        FROM keys k, start s, LATERAL (
          (SELECT o.owner_id, o.priority, k.wrapped FROM job_outbox o
           WHERE (o.owner_id, o.priority) > (k.owner_id, k.priority)
             AND (NOT k.wrapped OR o.owner_id < s.owner_id)
           ORDER BY o.owner_id, o.priority LIMIT 1)
          UNION ALL
          (SELECT o.owner_id, o.priority, true FROM job_outbox o
           WHERE NOT k.wrapped AND o.owner_id < s.owner_id
           ORDER BY o.owner_id, o.priority LIMIT 1)
          LIMIT 1
        ) nx
      ), some_keys AS (
        SELECT * FROM keys LIMIT ${RELAY_KEYS}
      ), owners AS MATERIALIZED (
        -- Counted once per owner, not once per candidate row.
        SELECT ow.owner_id,
          (SELECT count(*) FROM jobs j
           WHERE j.owner_id = ow.owner_id AND j.status = 'PENDING'
             AND j.dispatched_at > now() - make_interval(secs => ${this.expirySeconds}::float8)
             AND NOT EXISTS (SELECT 1 FROM job_outbox x WHERE x.job_id = j.id)) AS waiting,
          (SELECT count(*) FROM jobs j
           WHERE j.owner_id = ow.owner_id AND j.status = 'RUNNING' AND j.lease_expires_at > now()) AS running
        FROM (SELECT DISTINCT owner_id FROM some_keys) ow
      ), room AS MATERIALIZED (
        SELECT owner_id, ${this.window}::int - waiting AS room, waiting + running AS busy
        FROM owners WHERE waiting < ${this.window}::int
      ), cand AS (
        SELECT c.*, rm.room, rm.busy FROM some_keys k JOIN room rm ON rm.owner_id = k.owner_id, LATERAL (
          -- The constant inner LIMIT tells the planner how few rows a key gives (else it plans,
          -- and JIT-compiles, for thousands); the outer one stops the locking at the owner's room.
          SELECT * FROM (
            SELECT o.id, o.job_id, o.owner_id, o.priority, o.next_attempt_at FROM job_outbox o
            WHERE o.owner_id = k.owner_id AND o.priority = k.priority AND o.next_attempt_at <= now()
            ORDER BY o.next_attempt_at, o.id
            LIMIT ${this.batchSize}
            FOR UPDATE SKIP LOCKED
          ) due LIMIT rm.room
        ) c
      ), ranked AS (
        SELECT c.*, row_number() OVER (
            PARTITION BY c.owner_id ORDER BY c.priority DESC, c.next_attempt_at, c.id) AS place
        FROM cand c
      )
      SELECT r.id, r.job_id::text AS job_id, r.priority >= ${SQS_PRIORITY_THRESHOLD} AS urgent
      FROM ranked r
      WHERE r.place <= r.room
      ORDER BY r.busy + r.place, r.priority DESC, r.next_attempt_at, r.id
      LIMIT ${this.batchSize}`;
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
