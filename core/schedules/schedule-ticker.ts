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
import { advanceSchedule, dueSchedules, soonestTick, type DueSchedule } from './schedule-ticks.js';

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

  /** Handles every schedule due now; resolves with what became of each. */
  async tick(): Promise<TickOutcome[]> {
    const out: TickOutcome[] = [];
    const limit = this.opts.batchSize ?? 100;
    for (;;) {
      const now = this.now();
      const due = await dueSchedules(this.opts.db.prisma, now, limit);
      for (const s of due) out.push(await this.fire(s, now));
      // A full batch: there may be more (those this pass moved are no longer due).
      if (due.length < limit) return out;
    }
  }

  /** Ticks now, then whenever the next run is due or a schedule changes, until `stop()`. */
  start(): void {
    if (!this.stopped) return;
    this.stopped = false;
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

  /** One due schedule: its job (or none, as its missed policy says), and its next run. */
  private async fire(s: DueSchedule, now: Date): Promise<TickOutcome> {
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
      const won = await advanceSchedule(this.opts.db.prisma, s, new Date(now.getTime() + this.maxSleepMs), {
        error,
      });
      return { scheduleId: s.id, tickAt: s.nextRunAt, kind: won ? 'refused' : 'lost' };
    }
    const outcome = (kind: TickOutcome['kind'], jobId?: string): TickOutcome => ({
      scheduleId: s.id,
      tickAt,
      kind,
      ...(jobId ? { jobId } : {}),
    });

    if (s.missed === 'skip' && now.getTime() - tickAt.getTime() > this.missedAfterMs) {
      const won = await advanceSchedule(this.opts.db.prisma, s, next, { skipped: true });
      if (won)
        this.opts.logger.info(
          { scheduleId: s.id, tick: tickAt.toISOString() },
          'schedules: missed tick skipped',
        );
      return outcome(won ? 'skipped' : 'lost');
    }

    let params: unknown;
    try {
      params = this.opts.types.validate(s.type, s.params, false);
    } catch (err) {
      if (!(err instanceof AppError)) throw err;
      const won = await advanceSchedule(this.opts.db.prisma, s, next, {
        error: `tick ${tickAt.toISOString()} created no job: ${err.message}`,
      });
      return outcome(won ? 'refused' : 'lost');
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
    const max = this.opts.maxActiveJobsPerUser;
    // Set by the transaction (a cast: TypeScript does not see the closure assign it).
    let kind = 'lost' as TickOutcome['kind'];
    try {
      await this.opts.store.createMany([job], {
        idempotencyTtlMs: IDEMPOTENCY_TTL_MS,
        // In the job's transaction: the owner's quota, then the compare-and-set that makes this
        // ticker the one that handles the tick (with the job, or with the reason it has none).
        admit: async (tx, jobs) => {
          const [room] = await admitWithinQuota(max)(tx, jobs);
          const won = await advanceSchedule(
            tx,
            s,
            next,
            room
              ? { jobId: job.id, tickAt }
              : { error: `tick ${tickAt.toISOString()} created no job: ${quotaExceeded(max).message}` },
          );
          kind = !won ? 'lost' : room ? 'created' : 'refused';
          return [won && room];
        },
      });
    } catch (err) {
      if (!isUniqueViolation(err)) throw err;
      // The backstop: this tick's job exists already (a schedule moved back in time by a host
      // whose clock is behind). Move on without a second job.
      const won = await advanceSchedule(this.opts.db.prisma, s, next, { skipped: true });
      return outcome(won ? 'skipped' : 'lost');
    }
    if (kind === 'refused')
      this.opts.logger.warn(
        { scheduleId: s.id, ownerId: s.ownerId },
        "schedules: tick refused by the owner's active-jobs quota",
      );
    return outcome(kind, kind === 'created' ? job.id : undefined);
  }
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
