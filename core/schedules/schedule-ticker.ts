import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import type { Database } from '../db/database.js';
import { AppError } from '../errors.js';
import type { JobStore } from '../jobs/job-store.js';
import type { JobTypeRegistry } from '../jobs/job-types.js';
import { IDEMPOTENCY_TTL_MS } from '../jobs/jobs-service.js';
import { admitWithinQuota, quotaExceeded } from '../jobs/quota.js';
import type { JobInsert } from '../jobs/store/create.js';
import { parseCron } from './cron.js';
import { advanceSchedule, dueSchedules, lockDue, soonestTick, type DueSchedule } from './schedule-ticks.js';

/** The channel the schedules table's trigger notifies on a new or changed schedule. */
export const SCHEDULES_CHANNEL = 'jobs_schedules';

export interface ScheduleTickerOptions {
  db: Pick<Database, 'prisma' | 'listen'>;
  store: Pick<JobStore, 'createMany'>;
  types: Pick<JobTypeRegistry, 'validate' | 'find'>;
  logger: Pick<Logger, 'info' | 'warn'>;
  /** JOBS_MAX_ACTIVE_JOBS_PER_USER: a tick's job counts against its owner's cap (0: none). */
  maxActiveJobsPerUser: number;
  /** The clock ticks are judged by (tests pass a fake one and call `tick()`). */
  now?: () => Date;
  /**
   * A tick handled later than this is "missed" (everything was down): a `skip` schedule creates
   * no job for it. Default 2 min: on AWS the Lambda ticks once a minute, so a tick may be seen a minute late.
   */
  missedAfterMs?: number;
  /** Longest sleep between looks at the table (NOTIFY wakes it sooner). Default 60 s. */
  maxSleepMs?: number;
  /**
   * Whether `start()` LISTENs for schedule changes (default true). `jobs worker` passes false:
   * schedules change through the API, whose hosts' tickers listen, and a LISTEN of its own would
   * keep the worker's listening connection open, woken by every notifying commit of the
   * database, while its slots are busy (core/queue/db-queue.ts drops the queue's LISTEN then).
   * Without it the ticker looks at its timer: at the soonest next run, at most `maxSleepMs` on.
   */
  listen?: boolean;
  /** Schedules handled per query (default 100). */
  batchSize?: number;
  /** Told how long the started ticker sleeps after each pass (tests wait for it to be idle). */
  onSleep?: (ms: number) => void;
}

/** What one tick did to one schedule. */
export interface TickOutcome {
  scheduleId: string;
  tickAt: Date;
  /**
   * `created`: the tick's job; `refused`: no job (quota, type gone: the schedule's lastError says
   * why); `skipped`: a missed tick of a `skip` schedule; `lost`: another ticker handled it first.
   */
  kind: 'created' | 'refused' | 'skipped' | 'lost';
  jobId?: string;
}

/**
 * Creates the jobs of due schedule ticks. Any number of tickers may run at once (every
 * `jobs server` and `jobs worker`, and the Lambda once a minute on AWS): each tick makes exactly
 * one job, because the job is created in the transaction that advances the schedule's next run
 * with a compare-and-set (schedule-ticks.ts `advanceSchedule`), through the job store; the unique
 * index on jobs (schedule_id, schedule_tick_at) is the backstop.
 *
 * Missed ticks (nothing ran while they came): a `run-once` schedule gets one job, for the latest
 * of them; a `skip` schedule none. Either way the next run is then the first tick after now.
 *
 * `start()` runs `tick()` whenever the soonest next run comes (a timer), and when a schedule is
 * created or changed (NOTIFY on `jobs_schedules`); `tick()` alone is one pass, for the Lambda and
 * for tests with a fake clock.
 */
export class ScheduleTicker {
  private readonly now: () => Date;
  private readonly missedAfterMs: number;
  private readonly maxSleepMs: number;
  private timer?: NodeJS.Timeout;
  private running?: Promise<void>;
  private again = false;
  private stopped = true;
  private unlisten?: Promise<(() => Promise<void>) | undefined>;

  constructor(private readonly opts: ScheduleTickerOptions) {
    this.now = opts.now ?? (() => new Date());
    this.missedAfterMs = opts.missedAfterMs ?? 120_000;
    this.maxSleepMs = opts.maxSleepMs ?? 60_000;
  }

  /**
   * Handles every schedule due now; resolves with what became of each. Due ticks that get a job
   * are handled a batch at a time: one transaction locks the batch's schedules (SKIP LOCKED: a
   * batch another ticker holds is left to it), advances each with its compare-and-set and inserts
   * their jobs in one statement.
   */
  async tick(): Promise<TickOutcome[]> {
    const out: TickOutcome[] = [];
    const limit = this.opts.batchSize ?? 100;
    for (;;) {
      const now = this.now();
      const due = await dueSchedules(this.opts.db.prisma, now, limit);
      const outcomes = await this.fireAll(due, now);
      out.push(...outcomes);
      // A full batch: there may be more (those this pass moved are no longer due); unless other
      // tickers hold them all, in which case they handle the rest too.
      if (due.length < limit || outcomes.every((o) => o.kind === 'lost')) return out;
    }
  }

  /** Ticks now, then whenever the next run is due or a schedule changes, until `stop()`. */
  start(): void {
    if (!this.stopped) return;
    this.stopped = false;
    if (this.opts.listen === false) return this.wake();
    // The first pass once LISTEN is in place: a schedule created before then is seen by that
    // pass, one created after by its NOTIFY (none falls between and waits for the timer).
    this.unlisten = this.opts.db
      .listen(SCHEDULES_CHANNEL, () => this.wake(), { onReconnect: () => this.wake() })
      .then(
        (unlisten) => {
          this.wake();
          return unlisten;
        },
        (err: unknown) => {
          this.opts.logger.warn({ err }, 'schedules: cannot listen for changes; looking every minute');
          this.wake();
          return undefined;
        },
      );
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    await (
      await this.unlisten
    )?.();
    await this.running;
  }

  private wake(): void {
    if (this.stopped) return;
    if (this.running) {
      this.again = true; // a change during a pass: look once more right after it
      return;
    }
    clearTimeout(this.timer);
    this.running = this.pass().then((sleepMs) => {
      this.running = undefined;
      if (this.stopped) return;
      const delay = this.again ? 0 : sleepMs;
      this.again = false;
      this.timer = setTimeout(() => this.wake(), delay);
      // The ticker alone must not keep a process alive.
      this.timer.unref();
      this.opts.onSleep?.(delay);
    });
  }

  /** One tick; resolves with how long to sleep before the next. */
  private async pass(): Promise<number> {
    try {
      await this.tick();
      const soonest = await soonestTick(this.opts.db.prisma);
      if (!soonest) return this.maxSleepMs;
      return Math.min(this.maxSleepMs, Math.max(0, soonest.getTime() - this.now().getTime()));
    } catch (err) {
      this.opts.logger.warn({ err }, 'schedules: tick failed; will try again');
      return Math.min(this.maxSleepMs, 5_000);
    }
  }

  /** Due schedules: each tick's job (or none, as its missed policy says), and each next run. */
  private async fireAll(due: readonly DueSchedule[], now: Date): Promise<TickOutcome[]> {
    const out: TickOutcome[] = [];
    const jobs: Planned[] = [];
    for (const s of due) {
      const plan = this.plan(s, now);
      if ('job' in plan) jobs.push(plan);
      else out.push(await this.advanceOnly(plan));
    }
    if (jobs.length > 0) out.push(...(await this.create(jobs)));
    return out;
  }

  /** What to do with a due schedule: a job for `tickAt`, or only the move to `next` (and why). */
  private plan(s: DueSchedule, now: Date): Planned | Unplanned {
    let next: Date;
    let tickAt: Date;
    try {
      const cron = parseCron(s.cron, s.timezone, now);
      // The latest tick that has come: the due one itself, or a later one after a gap.
      const latest = cron.latestAtOrBefore(now);
      tickAt = latest && latest > s.nextRunAt ? latest : s.nextRunAt;
      next = cron.nextAfter(now)!;
    } catch (err) {
      // Stored expressions were valid when written; a runtime that lost a time zone is not fatal.
      const error = err instanceof AppError ? err.message : String(err);
      return { s, tickAt: s.nextRunAt, next: new Date(now.getTime() + this.maxSleepMs), result: { error } };
    }
    if (s.missed === 'skip' && now.getTime() - tickAt.getTime() > this.missedAfterMs) {
      return { s, tickAt, next, result: { skipped: true } };
    }
    let params: unknown;
    try {
      params = this.opts.types.validate(s.type, s.params, false);
    } catch (err) {
      if (!(err instanceof AppError)) throw err;
      return {
        s,
        tickAt,
        next,
        result: { error: `tick ${tickAt.toISOString()} created no job: ${err.message}` },
      };
    }
    const job: JobInsert = {
      id: randomUUID(),
      type: s.type,
      params,
      ownerId: s.ownerId,
      maxAttempts: this.opts.types.find(s.type)?.maxAttempts ?? 3,
      idempotencyKey: null,
      input: null,
      schedule: { id: s.id, tickAt },
    };
    return { s, tickAt, next, job };
  }

  /** A tick without a job: the schedule's next run moves on (skipped, or with its error). */
  private async advanceOnly(p: Unplanned): Promise<TickOutcome> {
    const won = await advanceSchedule(this.opts.db.prisma, p.s, p.next, p.result);
    const kind = !won ? 'lost' : 'skipped' in p.result ? 'skipped' : 'refused';
    if (kind === 'skipped')
      this.opts.logger.info(
        { scheduleId: p.s.id, tick: p.tickAt.toISOString() },
        'schedules: missed tick skipped',
      );
    return { scheduleId: p.s.id, tickAt: p.tickAt, kind };
  }

  /**
   * The jobs of planned ticks, in one transaction: the schedules this ticker can lock (still as
   * read, not paused; SKIP LOCKED), the owners' quota, each schedule's compare-and-set (with its
   * job, or with the reason it has none), then one insert of the admitted jobs.
   */
  private async create(plans: readonly Planned[]): Promise<TickOutcome[]> {
    const max = this.opts.maxActiveJobsPerUser;
    const kinds = new Map<string, TickOutcome['kind']>();
    try {
      await this.opts.store.createMany(
        plans.map((p) => p.job),
        {
          idempotencyTtlMs: IDEMPOTENCY_TTL_MS,
          admit: async (tx, jobs) => {
            const locked = await lockDue(
              tx,
              plans.map((p) => p.s),
            );
            const mine = plans.filter((p) => locked.has(p.s.id));
            const room = await admitWithinQuota(max)(
              tx,
              mine.map((p) => p.job),
            );
            for (const [i, p] of mine.entries()) {
              const won = await advanceSchedule(
                tx,
                p.s,
                p.next,
                room[i]
                  ? { jobId: p.job.id, tickAt: p.tickAt }
                  : { error: `tick ${p.tickAt.toISOString()} created no job: ${quotaExceeded(max).message}` },
              );
              kinds.set(p.s.id, !won ? 'lost' : room[i] ? 'created' : 'refused');
            }
            return jobs.map((_, i) => kinds.get(plans[i].s.id) === 'created');
          },
        },
      );
    } catch (err) {
      if (!isUniqueViolation(err)) throw err;
      // One of them hit the backstop: its tick's job exists already (a schedule moved back in
      // time by a host whose clock is behind). Each alone, then; that one moves on without a job.
      if (plans.length > 1) return (await Promise.all(plans.map((p) => this.create([p])))).flat();
      const [p] = plans;
      return [await this.advanceOnly({ s: p.s, tickAt: p.tickAt, next: p.next, result: { skipped: true } })];
    }
    return plans.map((p) => {
      const kind = kinds.get(p.s.id) ?? 'lost';
      if (kind === 'refused')
        this.opts.logger.warn(
          { scheduleId: p.s.id, ownerId: p.s.ownerId },
          "schedules: tick refused by the owner's active-jobs quota",
        );
      return {
        scheduleId: p.s.id,
        tickAt: p.tickAt,
        kind,
        ...(kind === 'created' ? { jobId: p.job.id } : {}),
      };
    });
  }
}

/** A due tick that gets a job. */
interface Planned {
  s: DueSchedule;
  tickAt: Date;
  next: Date;
  job: JobInsert;
}

/** A due tick that gets none: skipped (missed), or refused (the reason in `result`). */
interface Unplanned {
  s: DueSchedule;
  tickAt: Date;
  next: Date;
  result: { skipped: true } | { error: string };
}

/** A unique violation, as Prisma reports it for its queries (P2002) and raw ones (23505). */
function isUniqueViolation(err: unknown): boolean {
  const e = err as { code?: string; meta?: { code?: string }; message?: string };
  return (
    e?.code === 'P2002' ||
    e?.code === '23505' ||
    e?.meta?.code === '23505' ||
    /unique constraint|duplicate key/i.test(e?.message ?? '')
  );
}
