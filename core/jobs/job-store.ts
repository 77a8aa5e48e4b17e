import type { Logger } from 'pino';
import type { Database, Prisma } from '../db/database.js';
import type { Job } from '../db/generated/client.js';
import { GroupCommit } from '../db/group-commit.js';
import { retryTransient } from '../db/transient.js';
import type { JobQueue } from '../queue/job-queue.js';
import { capError, capResult } from './limits.js';
import { appendLogs } from './store/append-logs.js';
import { claimDeadLetterMove } from './store/dead-letter-move.js';
import { cancelAttempt, requestCancel, type CancelRequest } from './store/cancel.js';
import { CLAIM_LIMITS_LOCK_KEY, claimJob, overLimits, type ClaimedJob } from './store/claim.js';
import { claimNext, hasLimits, NO_LIMITS, startedLine, type ClaimLimits } from './store/claim-next.js';
import { completeJobs, type Completion } from './store/complete.js';
import { delaySecondsOf, insertJob, releaseIdempotencyKey, type JobInsert } from './store/create.js';
import { insertJobs, releaseIdempotencyKeys } from './store/create-many.js';
import { failJob } from './store/fail.js';
import { gaveUpReason, giveUpJob } from './store/give-up.js';
import { heartbeat, type Beat } from './store/heartbeat.js';
import { setProgress, type Progress } from './store/progress.js';
import { beginOutput, discardOutputs, finishOutput } from './store/outputs.js';
import { lockExpired } from './store/reap.js';
import { countPrunable, pruneFinished, type PrunedJob } from './store/prune.js';
import { expireAllLeases } from './store/recover.js';
import { lockDeadLetters } from './store/redrive.js';
import { requeueJob } from './store/requeue.js';
import { freshAttempts } from './store/retry.js';
import { inTransaction, line, type Lease, type LogLine, type Tx } from './store/types.js';

export type { CancelRequest, ClaimedJob, ClaimLimits, JobInsert, Lease, LogLine, Progress, Beat, PrunedJob };
export { gaveUpReason, startedLine };

/** The job a claim handed to one attempt, with the lease every write of that attempt carries. */
export interface Attempt {
  lease: Lease;
  job: ClaimedJob;
  /** The claim wrote the attempt's "started" line (claimNext does, for a PENDING job). */
  startedLogged?: boolean;
}

/** One attempt's end: its writes in a transaction shared with other ends. */
interface Ending {
  jobId: string;
  end(tx: Tx): Promise<unknown>;
}

/**
 * What became of one job of `createMany`, in the order given: inserted (and queued); not admitted
 * (the `admit` hook said no: the owner's active-jobs quota); or skipped because its owner's
 * Idempotency-Key is held by another job (a live one committed before, or an earlier job of the
 * same call): the caller looks that job up after the commit.
 */
export type CreateOutcome = { kind: 'created'; job: Job } | { kind: 'refused' } | { kind: 'key-taken' };

/** What one reaper sweep did. */
export interface Reaped {
  requeued: string[];
  failed: string[];
  cancelled: string[];
}

const REDRIVE_BATCH = 100;

/**
 * The one writer of jobs: every change of a job's state, its lease, its log lines and its
 * dead-letter mark goes through here (a test fails if any other module writes those tables).
 * Each transition is one small file of SQL in ./store/; this class gives them their transactions:
 * an attempt's last log lines commit with its outcome, a job's queue message commits with the
 * row that needs it (created, retried, requeued, redriven), and an outcome outlives a database
 * blip (retried while the connection is down; guarded by the lease, so a retry after a lost reply
 * changes nothing).
 *
 * Transitions an attempt makes take its `Lease` and do nothing (resolve false) once the attempt
 * no longer holds the job: cancelled, given up on, or claimed again after its lease expired.
 */
export class JobStore {
  /**
   * Attempts' ends, group-committed (core/db/group-commit.ts): the ends that arrive while one
   * transaction is committing share the next, in job id order (two groups never wait on each
   * other's rows in opposite orders).
   */
  private readonly endings = new GroupCommit<Ending, unknown>((group) =>
    this.prisma.$transaction(async (tx) => {
      const order = [...group.keys()].sort((a, b) => group[a].jobId.localeCompare(group[b].jobId));
      const out: unknown[] = [];
      for (const i of order) out[i] = await group[i].end(tx);
      return out;
    }),
  );

  /**
   * Successes, the common end, group-committed too: one statement for the group and no
   * transaction (store/complete.ts). A group holding two ends of one job (a stale attempt's and
   * its successor's) writes them one by one, as a statement updates a row once.
   */
  private readonly completions = new GroupCommit<Completion, boolean>(async (group) => {
    if (new Set(group.map((c) => c.lease.jobId)).size === group.length) return completeJobs(this.db, group);
    const out: boolean[] = [];
    for (const c of group) out.push(...(await completeJobs(this.db, [c])));
    return out;
  });

  private readonly prisma: Prisma;

  constructor(
    /** Prisma's client, and the raw driver for the hot paths (create, claim, complete). */
    private readonly db: Pick<Database, 'prisma' | 'query'>,
    private readonly queue: Pick<
      JobQueue,
      'send' | 'sendMany' | 'afterCommit' | 'deleteIn' | 'claimSettings'
    >,
    private readonly logger?: Pick<Logger, 'warn'>,
    /**
     * Concurrency limits every claim applies (per job type, per owner; core/jobs/scheduling.ts),
     * in the database, so they hold across every worker and Lambda.
     */
    private readonly limits: ClaimLimits = NO_LIMITS,
  ) {
    this.prisma = db.prisma;
  }

  // ---- the API's transitions ----

  /**
   * Records a PENDING job and queues it, in one transaction. `input` may resolve the job's input
   * inside that transaction (claiming a direct upload, which rolls back with the job). An
   * Idempotency-Key older than `idempotencyTtlMs` is freed first. Rejects with Prisma's P2002
   * when the owner's key is held by a live job.
   */
  async create(
    job: Omit<JobInsert, 'input'> & { input?: JobInsert['input'] },
    opts: {
      idempotencyTtlMs: number;
      input?: (tx: Tx) => Promise<JobInsert['input']>;
      /** Runs first in the transaction; throws to refuse (the owner's active-jobs quota). */
      guard?: (tx: Tx) => Promise<void>;
    },
  ): Promise<Job> {
    const row = await this.prisma.$transaction(async (tx) => {
      if (job.idempotencyKey)
        await releaseIdempotencyKey(tx, job.ownerId, job.idempotencyKey, opts.idempotencyTtlMs);
      await opts.guard?.(tx);
      const input = opts.input ? await opts.input(tx) : (job.input ?? null);
      const created = await insertJob(tx, { ...job, input });
      await this.queue.send(created.id, tx, { delaySeconds: delaySecondsOf(job) });
      return created;
    });
    this.queue.afterCommit?.();
    return row;
  }

  /**
   * Records many PENDING jobs and queues them, in one transaction of a few statements whatever
   * their number: expired Idempotency-Keys freed, `admit` (the owners' active-jobs quota), one
   * multi-row INSERT, one multi-row send. One job's problem never aborts the others: a key held by
   * another job skips that job (`key-taken`), a job `admit` refuses is left out (`refused`).
   * Inputs must be resolved already (no upload claims here). The outcomes come in the jobs' order.
   *
   * The common case is one statement and no transaction: with a queue in the job database, no
   * `admit` and no Idempotency-Key, the rows and their messages are one INSERT (store/create-many.ts).
   *
   * Jobs of several owners may share a call (requests grouped into one commit): `admit` sees them
   * all and answers per job.
   *
   * @example
   * const out = await store.createMany(jobs, {
   *   idempotencyTtlMs: DAY_MS,
   *   admit: admitWithinQuota(1000), // core/jobs/quota.ts
   * });
   */
  async createMany(
    jobs: readonly JobInsert[],
    opts: {
      idempotencyTtlMs: number;
      /** Runs in the transaction before the insert: whether each job may be inserted (default: all). */
      admit?: (tx: Tx, jobs: readonly JobInsert[]) => Promise<readonly boolean[]>;
    },
  ): Promise<CreateOutcome[]> {
    if (jobs.length === 0) return [];
    const now = Date.now();
    if (
      this.queue.claimSettings &&
      !opts.admit &&
      jobs.every((j) => j.idempotencyKey === null && delaySecondsOf(j, now) === 0)
    ) {
      const rows = await insertJobs(this.db, jobs, { queue: true });
      this.queue.afterCommit?.();
      return jobs.map((j): CreateOutcome => ({ kind: 'created', job: rows.get(j.id)! }));
    }
    const outcomes = await this.prisma.$transaction(async (tx) => {
      await releaseIdempotencyKeys(tx, jobs, opts.idempotencyTtlMs);
      const admitted = opts.admit ? await opts.admit(tx, jobs) : jobs.map(() => true);
      const rows = await insertJobs(
        inTransaction(tx),
        jobs.filter((_, i) => admitted[i]),
      );
      // Messages at once for the jobs due now; a delayed job's message is held until its runAt.
      const due: string[] = [];
      for (const j of jobs.filter((j) => rows.has(j.id))) {
        const delaySeconds = delaySecondsOf(j, now);
        if (delaySeconds === 0) due.push(j.id);
        else await this.queue.send(j.id, tx, { delaySeconds });
      }
      if (due.length > 0) await this.queue.sendMany(due, tx);
      return jobs.map((j, i): CreateOutcome => {
        if (!admitted[i]) return { kind: 'refused' };
        const job = rows.get(j.id);
        return job ? { kind: 'created', job } : { kind: 'key-taken' };
      });
    });
    if (outcomes.some((o) => o.kind === 'created')) this.queue.afterCommit?.();
    return outcomes;
  }

  /**
   * Asks to cancel a job (see store/cancel.ts): a PENDING job, or a RUNNING one nobody holds any
   * more, ends at once; a running attempt is asked to stop and ends it itself. `by` names who
   * asked, in the job's log.
   */
  async requestCancel(jobId: string, by: string): Promise<CancelRequest> {
    return this.prisma.$transaction(async (tx) => {
      const r = await requestCancel(tx, jobId);
      if (r.kind === 'cancelled') {
        const why = r.wasRunning ? ' (its worker had stopped)' : ' before it started';
        await appendLogs(tx, jobId, [line('warn', `cancelled by ${by}${why}`)]);
      } else if (r.kind === 'requested') {
        await appendLogs(tx, jobId, [line('warn', `cancel requested by ${by}; stopping the handler`)]);
      }
      return r;
    });
  }

  /**
   * Puts a FAILED or CANCELLED job back in line with fresh attempts and a new message. `guard`
   * runs first in the transaction and throws to refuse (the owner's active-jobs quota).
   */
  async retry(jobId: string, guard?: (tx: Tx) => Promise<void>): Promise<boolean> {
    const queued = await this.prisma.$transaction(async (tx) => {
      await guard?.(tx);
      if (!(await freshAttempts(tx, jobId, ['FAILED', 'CANCELLED']))) return false;
      await this.queue.send(jobId, tx);
      return true;
    });
    if (queued) this.queue.afterCommit?.();
    return queued;
  }

  /**
   * Sends dead-lettered jobs (all, or those in `ids`) back in line: fresh attempts, a new message
   * and a log line each, in batches. Returns the ids requeued.
   */
  async redrive(by: string, ids?: readonly string[]): Promise<string[]> {
    const requeued: string[] = [];
    for (;;) {
      const batch = await this.prisma.$transaction(async (tx) => {
        const locked = await lockDeadLetters(tx, REDRIVE_BATCH, ids);
        for (const id of locked) {
          await freshAttempts(tx, id, ['FAILED']);
          await appendLogs(tx, id, [
            line('info', `redriven from the dead letters by ${by}; attempts start over`),
          ]);
          await this.queue.send(id, tx);
        }
        return locked;
      });
      if (batch.length > 0) this.queue.afterCommit?.();
      requeued.push(...batch);
      if (batch.length < REDRIVE_BATCH) return requeued;
    }
  }

  // ---- an attempt's transitions (the processor) ----

  /**
   * With a queue in the job database: receives up to `max` messages and claims their jobs in one
   * statement (store/claim-next.ts), each message hidden `visibilitySeconds`. Each comes with its
   * attempt (the lease carries the message's receipt, acknowledged with the attempt's outcome),
   * or null when its job was not claimable. Throws with any other queue.
   */
  async claimNext(opts: { max: number; leaseSeconds: number; visibilitySeconds: number }) {
    const settings = this.queue.claimSettings;
    if (!settings) throw new Error('claimNext needs the queue in the job database');
    const claim = { ...opts, maxReceives: settings.maxReceives, limits: this.limits };
    // Under limits, claims take turns (a transaction-scoped advisory lock, then the claim in a
    // snapshot taken after it): two claims counting the same RUNNING jobs at once could both take
    // a type's last slot. Without limits, the one statement alone, as fast as before.
    const got = hasLimits(this.limits)
      ? await this.prisma.$transaction(async (tx) => {
          await tx.$executeRaw`SELECT pg_advisory_xact_lock(${CLAIM_LIMITS_LOCK_KEY}::bigint)`;
          return claimNext(inTransaction(tx), claim);
        })
      : await claimNext(this.db, claim);
    return got.map((m) => ({
      ...m,
      claimed: m.claimed && {
        ...m.claimed,
        lease: { ...m.claimed.lease, receipt: m.receiptHandle },
      },
    }));
  }

  /**
   * True when an attempt's end acknowledges its delivery in the same transaction (a queue in the
   * job database, and a lease that carries the delivery's receipt): the caller must not delete it.
   */
  acknowledgesWithOutcome(lease: Lease): boolean {
    return lease.receipt !== undefined && this.queue.deleteIn !== undefined;
  }

  /**
   * Claims a job for an attempt (see store/claim.ts); undefined when it is not claimable. Applies
   * no concurrency limits: the processor claims through `claimWithinLimits`.
   */
  async claim(jobId: string, token: string, leaseSeconds: number): Promise<Attempt | undefined> {
    const job = await claimJob(this.prisma, jobId, token, leaseSeconds);
    return job && { lease: { jobId, token }, job };
  }

  /**
   * `claim` within the concurrency limits: 'over-limit' when running the job now would put its
   * type or its owner over them (the caller puts the delivery off: the SQS path; the database
   * queue's claimNext never picks such a job). Claims take turns under limits, as claimNext's do.
   */
  async claimWithinLimits(
    jobId: string,
    token: string,
    leaseSeconds: number,
  ): Promise<Attempt | undefined | 'over-limit'> {
    if (!hasLimits(this.limits)) return this.claim(jobId, token, leaseSeconds);
    return this.prisma.$transaction(async (tx) => {
      await tx.$executeRaw`SELECT pg_advisory_xact_lock(${CLAIM_LIMITS_LOCK_KEY}::bigint)`;
      if (await overLimits(tx, jobId, this.limits)) return 'over-limit' as const;
      const job = await claimJob(tx, jobId, token, leaseSeconds);
      return job && { lease: { jobId, token }, job };
    });
  }

  /**
   * Queues `jobId` again `seconds` from now with a fresh message, the job untouched: how the SQS
   * path puts off a job over a concurrency limit (its delivery is then acknowledged, so the
   * receives that lead to the dead letters are not spent on waiting). Through the queue's
   * transactional path, as a retry's message goes: on SQS the outbox, which the API hosts' relay
   * sends (the processor Lambda may not send to SQS itself).
   */
  async putOff(jobId: string, seconds: number): Promise<void> {
    await this.prisma.$transaction((tx) => this.queue.send(jobId, tx, { delaySeconds: seconds }));
    this.queue.afterCommit?.();
  }

  heartbeat(lease: Lease, leaseSeconds: number): Promise<Beat> {
    return heartbeat(this.prisma, lease, leaseSeconds);
  }

  /** Appends log lines to a job (buffered by processor/job-log-writer.ts). */
  appendLogs(jobId: string, lines: readonly LogLine[]): Promise<void> {
    return appendLogs(this.prisma, jobId, lines);
  }

  progress(lease: Lease, p: Progress): Promise<boolean> {
    return setProgress(this.prisma, lease, p);
  }

  // An attempt's outputs (store/outputs.ts), guarded by its lease like its progress.

  beginOutput(lease: Lease, out: { name: string; contentType: string }) {
    return beginOutput(this.prisma, lease, out);
  }

  finishOutput(lease: Lease, out: { key: string; size: number; sha256: string }): Promise<boolean> {
    return finishOutput(this.prisma, lease, out);
  }

  discardOutputs(lease: Lease, which: 'mine' | 'all'): Promise<string[]> {
    return discardOutputs(this.prisma, lease, which);
  }

  // What a handler returns or throws is stored bounded (core/jobs/limits.ts): an error of a few
  // KB, a result of at most 64 KiB, so no job row can stall the lists that carry it.

  /**
   * COMPLETED, with the attempt's last log lines, acknowledging the delivery the lease carries (a
   * queue in the job database): one statement shared by the successes that arrive together,
   * retried through a database blip like every end (see `endAttempt`).
   */
  complete(
    lease: Lease,
    out: { result: unknown; progress?: Progress },
    lines: readonly LogLine[],
  ): Promise<boolean> {
    const end: Completion = {
      lease,
      result: capResult(out.result),
      progress: out.progress,
      lines,
      ack: this.acknowledgesWithOutcome(lease),
    };
    return retryTransient(() => this.completions.submit(end), {
      what: `writing job ${lease.jobId}'s status`,
      logger: this.logger,
    });
  }

  /** FAILED for good, with the attempt's last log lines. */
  fail(lease: Lease, out: { error: string; result?: unknown }, lines: readonly LogLine[]) {
    const capped = { error: capError(out.error), result: capResult(out.result) };
    return this.endAttempt(lease, lines, (tx) => failJob(tx, lease, capped), { ack: true });
  }

  /** Given up on: FAILED and dead-lettered (store/give-up.ts), with the last log lines. */
  giveUp(
    lease: Lease,
    out: { reason: string; attempts?: number; messageId?: string },
    lines: readonly LogLine[],
  ) {
    const capped = { ...out, reason: capError(out.reason) };
    return this.endAttempt(lease, lines, (tx) => giveUpJob(tx, lease, capped));
  }

  /** CANCELLED: the attempt stopped on a cancel request. */
  cancelled(lease: Lease, lines: readonly LogLine[]) {
    return this.endAttempt(lease, lines, (tx) => cancelAttempt(tx, lease), { ack: true });
  }

  /**
   * Interrupted (the worker is stopping or its deadline came): back to PENDING with the attempt
   * given back. The delivery is left to come back; no new message.
   */
  release(lease: Lease, lines: readonly LogLine[]) {
    return this.endAttempt(lease, lines, (tx) => requeueJob(tx, lease, { uncount: true }));
  }

  /**
   * Failed retryably with attempts left: back to PENDING with the error, and a new message that
   * becomes visible after `delaySeconds` (the backoff), in the same transaction.
   */
  async requeue(lease: Lease, out: { error: string; delaySeconds: number }, lines: readonly LogLine[]) {
    const queued = await this.endAttempt(
      lease,
      lines,
      async (tx) => {
        if (!(await requeueJob(tx, lease, { error: capError(out.error) }))) return false;
        await this.queue.send(lease.jobId, tx, { delaySeconds: out.delaySeconds });
        return true;
      },
      { ack: true },
    );
    if (queued) this.queue.afterCommit?.();
    return queued;
  }

  /** A line in a job's log from the platform (a duplicate delivery noticed, say). */
  log(jobId: string, level: LogLine['level'], message: string): Promise<void> {
    return appendLogs(this.prisma, jobId, [line(level, message)]);
  }

  /** The job's status and dead-letter mark (null when it does not exist). */
  async state(jobId: string): Promise<{ status: Job['status']; deadLettered: boolean } | null> {
    const row = await this.prisma.job.findUnique({
      where: { id: jobId },
      select: { status: true, deadLetteredAt: true },
    });
    return row && { status: row.status, deadLettered: row.deadLetteredAt !== null };
  }

  /**
   * Whether the delivery `messageId` of a given-up job is the one to move to the dead letters
   * (one message per job, whichever path gave up; see store/dead-letter-move.ts).
   */
  claimDeadLetterMove(jobId: string, messageId: string): Promise<boolean> {
    return claimDeadLetterMove(this.prisma, jobId, messageId);
  }

  // ---- maintenance ----

  /**
   * One sweep of the reaper: RUNNING jobs whose lease expired more than `graceSeconds` ago (their
   * worker died or hung, and their message is gone) are cancelled if that was asked for, given up
   * on if their attempts are used up, and otherwise put back in line with a new message; each
   * with a log line saying so, in one transaction.
   */
  async reap(graceSeconds: number, limit: number): Promise<Reaped> {
    const done: Reaped = { requeued: [], failed: [], cancelled: [] };
    await this.prisma.$transaction(async (tx) => {
      for (const job of await lockExpired(tx, graceSeconds, limit)) {
        const id = job.lease.jobId;
        if (job.cancelRequested) {
          await cancelAttempt(tx, job.lease);
          await appendLogs(tx, id, [
            line('warn', 'cancelled: its worker stopped before it could stop the handler'),
          ]);
          done.cancelled.push(id);
        } else if (job.attempts >= job.maxAttempts) {
          const reason = gaveUpReason(job.attempts);
          await giveUpJob(tx, job.lease, { reason });
          await appendLogs(tx, id, [line('error', reason)]);
          done.failed.push(id);
        } else {
          // attempts is kept: the next claim counts the next attempt.
          await requeueJob(tx, job.lease);
          await this.queue.send(id, tx);
          await appendLogs(tx, id, [
            line(
              'warn',
              `lease of attempt ${job.attempts} expired (its worker stopped, hung or was cut off, and its message is gone); requeued, attempt ${job.attempts + 1} of ${job.maxAttempts} next`,
            ),
          ]);
          done.requeued.push(id);
        }
      }
    });
    if (done.requeued.length > 0) this.queue.afterCommit?.();
    return done;
  }

  /** Retention (store/prune.ts): deletes up to `limit` jobs finished before `cutoff`, oldest first. */
  prune(cutoff: Date, limit: number): Promise<PrunedJob[]> {
    return pruneFinished(this.prisma, cutoff, limit);
  }

  /** What `prune` would delete with this cutoff (a dry run). */
  countPrunable(cutoff: Date): Promise<{ jobs: number; oldest: Date | null }> {
    return countPrunable(this.prisma, cutoff);
  }

  /** Embedded start-up only (see store/recover.ts): every RUNNING job claimable again now. */
  expireAllLeases(): Promise<number> {
    return expireAllLeases(this.prisma);
  }

  /**
   * An attempt's end: its last log lines and its outcome in one transaction, retried through a
   * database blip (the last lines may then be written twice, which beats losing them). With
   * `ack`, a delivery the lease carries is acknowledged in it too (a queue in the job database):
   * whether or not the attempt still held the job, its message is done with, as a separate
   * delete would have done. A give-up (moved to the dead letters) and a release (delivered again)
   * keep their message.
   */
  private endAttempt<T>(
    lease: Lease,
    lines: readonly LogLine[],
    write: (tx: Tx) => Promise<T>,
    opts: { ack?: boolean } = {},
  ): Promise<T> {
    const ack = opts.ack && lease.receipt !== undefined ? this.queue.deleteIn?.bind(this.queue) : undefined;
    const end = async (tx: Tx) => {
      await appendLogs(tx, lease.jobId, lines);
      const out = await write(tx);
      await ack?.(lease.receipt!, tx);
      return out;
    };
    return retryTransient(() => this.endings.submit({ jobId: lease.jobId, end }) as Promise<T>, {
      what: `writing job ${lease.jobId}'s status`,
      logger: this.logger,
    });
  }
}
