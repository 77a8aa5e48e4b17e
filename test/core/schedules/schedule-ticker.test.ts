import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from '@jest/globals';
import { pino } from 'pino';
import type { Principal } from '../../../core/auth/principal.js';
import { openDatabase, type Database } from '../../../core/db/database.js';
import { JobStore } from '../../../core/jobs/job-store.js';
import { JobTypeRegistry } from '../../../core/jobs/job-types.js';
import { ScheduleTicker } from '../../../core/schedules/schedule-ticker.js';
import { SchedulesService, type NewSchedule } from '../../../core/schedules/schedules-service.js';
import { DbQueue } from '../../../core/queue/db-queue.js';
import { builtinHandlers } from '../../../processor/handlers/index.js';
import { until } from '../../helpers/counting.js';
import { dbKinds, openTestDatabase, type TestDatabase } from '../../helpers/db.js';

const logger = pino({ level: 'silent' });
const types = new JobTypeRegistry(builtinHandlers);
const at = (iso: string) => Date.parse(iso);

/**
 * The schedule ticker with a fake clock (no sleeps: the test moves time and calls `tick()`), on
 * PGlite and PostgreSQL: one job per tick however many tickers run at once, missed ticks as the
 * schedule says, nothing for paused schedules, a refused tick recorded on the schedule.
 */
describe.each(dbKinds())('ScheduleTicker on %s', (kind) => {
  let t: TestDatabase;
  let queue: DbQueue;
  let store: JobStore;
  let nowMs = at('2026-12-01T10:00:00Z');
  const clock = () => new Date(nowMs);
  const ownerId = randomUUID();
  const owner: Principal = {
    userId: ownerId,
    name: 'owner',
    role: 'user',
    permissions: ['job:Create', 'job:Read'],
    tokenId: randomUUID(),
  };
  let service: SchedulesService;
  /** Extra connections (PostgreSQL): tickers of other "processes". */
  const others: { db: Database; queue: DbQueue }[] = [];

  const ticker = (o: { db?: Database; queue?: DbQueue; maxActive?: number; reg?: JobTypeRegistry } = {}) => {
    const db = o.db ?? t.db;
    return new ScheduleTicker({
      db,
      store: new JobStore(db, o.queue ?? queue),
      types: o.reg ?? types,
      logger,
      maxActiveJobsPerUser: o.maxActive ?? 0,
      now: clock,
    });
  };
  const create = (s: Partial<NewSchedule> = {}) =>
    service.create(owner, { cron: '*/5 * * * *', type: 'noop', ...s });
  const jobsOf = (scheduleId: string) =>
    t.db.prisma.job.findMany({ where: { scheduleId }, orderBy: { scheduleTickAt: 'asc' } });
  const scheduleRow = (id: string) => t.db.prisma.schedule.findUniqueOrThrow({ where: { id } });

  beforeAll(async () => {
    t = await openTestDatabase(kind);
    queue = new DbQueue(t.db, { visibilityTimeoutSeconds: 30, maxReceives: 5 });
    store = new JobStore(t.db, queue);
    service = new SchedulesService(t.db.prisma, types, clock);
    if (kind === 'postgres') {
      for (let i = 0; i < 2; i++) {
        const db = await openDatabase({ url: t.url! });
        others.push({ db, queue: new DbQueue(db, { visibilityTimeoutSeconds: 30, maxReceives: 5 }) });
      }
    }
  });
  afterAll(async () => {
    for (const o of others) {
      await o.queue.close();
      await o.db.close();
    }
    await queue.close();
    await t.close();
  });
  beforeEach(async () => {
    await t.reset();
    await t.db.prisma.user.create({ data: { id: ownerId, name: 'owner' } });
    nowMs = at('2026-12-01T10:00:00Z');
  });

  it('creates exactly one job per tick with several tickers ticking at once', async () => {
    const s = await create({ cron: '* * * * *' }); // every minute
    expect(s.nextRunAt).toBe('2026-12-01T10:01:00.000Z');
    // Six tickers: three on this connection pool, and on PostgreSQL three on each other pool.
    const tickers = [
      ticker(),
      ticker(),
      ticker(),
      ...others.flatMap((o) => [ticker(o), ticker(o), ticker(o)]),
    ];
    let created = 0;
    for (let minute = 1; minute <= 12; minute++) {
      nowMs = at('2026-12-01T10:00:00Z') + minute * 60_000 + 250;
      const outcomes = (await Promise.all(tickers.map((x) => x.tick()))).flat();
      const made = outcomes.filter((o) => o.kind === 'created');
      expect(made).toHaveLength(1);
      expect(outcomes.filter((o) => o.kind !== 'created' && o.kind !== 'lost')).toEqual([]);
      created += made.length;
    }
    const jobs = await jobsOf(s.id);
    expect(jobs).toHaveLength(created);
    expect(jobs.map((j) => j.scheduleTickAt!.toISOString())).toEqual(
      Array.from({ length: 12 }, (_, i) => new Date(at('2026-12-01T10:01:00Z') + i * 60_000).toISOString()),
    );
    // Each job is queued once and is the owner's, with the schedule's type and params.
    expect(await t.db.prisma.queueMessage.count()).toBe(12);
    expect(jobs.every((j) => j.ownerId === ownerId && j.type === 'noop' && j.status === 'PENDING')).toBe(
      true,
    );
    const after = await scheduleRow(s.id);
    expect(after.nextRunAt.toISOString()).toBe('2026-12-01T10:13:00.000Z');
    expect(after.lastRunAt!.toISOString()).toBe('2026-12-01T10:12:00.000Z');
    expect(after.lastJobId).toBe(jobs.at(-1)!.id);
    expect(after.lastError).toBeNull();
  });

  it('handles many due schedules in batches, each tick once, with tickers sharing the work', async () => {
    const N = 250; // batches of 100
    await t.db.prisma.schedule.createMany({
      data: Array.from({ length: N }, () => ({
        id: randomUUID(),
        ownerId,
        cron: '* * * * *',
        type: 'noop',
        nextRunAt: new Date('2026-12-01T10:01:00Z'),
      })),
    });
    nowMs = at('2026-12-01T10:01:00.500Z');
    const tickers = [ticker(), ticker(), ticker(), ...others.flatMap((o) => [ticker(o), ticker(o)])];
    const outcomes = (await Promise.all(tickers.map((x) => x.tick()))).flat();
    expect(outcomes.filter((o) => o.kind === 'created')).toHaveLength(N);
    expect(outcomes.filter((o) => o.kind !== 'created' && o.kind !== 'lost')).toEqual([]);
    const rows = await t.db.prisma.$queryRaw<{ n: number; ticks: number; schedules: number }[]>`
      SELECT count(*)::int AS n, count(DISTINCT schedule_tick_at)::int AS ticks,
             count(DISTINCT schedule_id)::int AS schedules
      FROM jobs`;
    expect(rows[0]).toEqual({ n: N, ticks: 1, schedules: N });
    expect(await t.db.prisma.queueMessage.count()).toBe(N);
    expect(await t.db.prisma.schedule.count({ where: { nextRunAt: new Date('2026-12-01T10:02:00Z') } })).toBe(
      N,
    );
  });

  it('does nothing before a tick is due, and creates the due tick exactly at its time', async () => {
    const s = await create();
    nowMs = at('2026-12-01T10:04:59.999Z');
    expect(await ticker().tick()).toEqual([]);
    nowMs = at('2026-12-01T10:05:00Z');
    const [o] = await ticker().tick();
    expect(o).toMatchObject({ kind: 'created', scheduleId: s.id });
    expect(o.tickAt.toISOString()).toBe('2026-12-01T10:05:00.000Z');
    expect(await ticker().tick()).toEqual([]);
  });

  it('run-once (default): after downtime, one job for the latest missed tick, then the next future one', async () => {
    const s = await create(); // */5: next 10:05
    nowMs = at('2026-12-01T11:02:30Z'); // down from 10:00 to 11:02:30: 12 ticks missed
    const outcomes = await ticker().tick();
    expect(outcomes.map((o) => [o.kind, o.tickAt.toISOString()])).toEqual([
      ['created', '2026-12-01T11:00:00.000Z'],
    ]);
    expect((await jobsOf(s.id)).map((j) => j.scheduleTickAt!.toISOString())).toEqual([
      '2026-12-01T11:00:00.000Z',
    ]);
    expect((await scheduleRow(s.id)).nextRunAt.toISOString()).toBe('2026-12-01T11:05:00.000Z');
  });

  it('skip: after downtime, no job for the missed ticks; ticks on time still run', async () => {
    const s = await create({ missed: 'skip' });
    nowMs = at('2026-12-01T11:02:30Z');
    expect((await ticker().tick()).map((o) => o.kind)).toEqual(['skipped']);
    expect(await jobsOf(s.id)).toEqual([]);
    expect((await scheduleRow(s.id)).nextRunAt.toISOString()).toBe('2026-12-01T11:05:00.000Z');
    nowMs = at('2026-12-01T11:05:01Z'); // a second late: on time
    expect((await ticker().tick()).map((o) => o.kind)).toEqual(['created']);
    expect(await jobsOf(s.id)).toHaveLength(1);
  });

  it('reads the cron expression in the schedule’s time zone (6 fields: seconds first)', async () => {
    // 09:00 in Paris is 08:00 UTC in December.
    const paris = await create({ cron: '0 0 9 * * *', timezone: 'Europe/Paris' });
    expect(paris.nextRunAt).toBe('2026-12-02T08:00:00.000Z');
    const everySecond = await create({ cron: '* * * * * *' });
    expect(everySecond.nextRunAt).toBe('2026-12-01T10:00:01.000Z');
  });

  it('creates nothing for a paused schedule; resuming starts from the next tick, not making up', async () => {
    const s = await create({ paused: true });
    nowMs = at('2026-12-01T10:31:00Z');
    expect(await ticker().tick()).toEqual([]);
    expect(await jobsOf(s.id)).toEqual([]);
    const resumed = await service.update(owner, s.id, { paused: false });
    expect(resumed.nextRunAt).toBe('2026-12-01T10:35:00.000Z');
    expect(await ticker().tick()).toEqual([]);
    // Paused again while due: still nothing.
    nowMs = at('2026-12-01T10:35:00Z');
    await service.update(owner, s.id, { paused: true });
    expect(await ticker().tick()).toEqual([]);
    expect(await jobsOf(s.id)).toEqual([]);
  });

  it('a tick whose schedule changed after it was read loses its compare-and-set and creates nothing', async () => {
    const s = await create({ cron: '* * * * *' });
    nowMs = at('2026-12-01T10:01:00Z');
    const x = ticker();
    // The ticker reads the due schedule, then its owner changes it before the tick's transaction.
    const read = (await t.db.prisma.schedule.findUniqueOrThrow({ where: { id: s.id } })) as never;
    await service.update(owner, s.id, { params: { logLines: 2 } });
    const fireAll = (
      x as unknown as { fireAll(s: unknown[], now: Date): Promise<{ kind: string }[]> }
    ).fireAll.bind(x);
    expect((await fireAll([read], clock()))[0].kind).toBe('lost');
    expect(await jobsOf(s.id)).toEqual([]);
    // The next pass reads the schedule as changed and creates the tick's job with the new params.
    const [o] = await x.tick();
    expect(o.kind).toBe('created');
    expect((await jobsOf(s.id))[0].params).toEqual({ logLines: 2, sleepMs: 0, fail: false });
  });

  it("records a tick refused by the owner's quota on the schedule, and goes on", async () => {
    const s = await create({ cron: '* * * * *' });
    const capped = ticker({ maxActive: 1 });
    nowMs = at('2026-12-01T10:01:00Z');
    expect((await capped.tick()).map((o) => o.kind)).toEqual(['created']);
    nowMs = at('2026-12-01T10:02:00Z'); // the first job is still PENDING: the owner is at the cap
    expect((await capped.tick()).map((o) => o.kind)).toEqual(['refused']);
    const row = await scheduleRow(s.id);
    expect(row.lastError).toMatch(/^tick 2026-12-01T10:02:00.000Z created no job: too many active jobs/);
    expect(row.nextRunAt.toISOString()).toBe('2026-12-01T10:03:00.000Z');
    expect(await jobsOf(s.id)).toHaveLength(1);
    // Room again: the next tick creates its job and clears the error.
    await t.db.prisma.$executeRawUnsafe(`UPDATE jobs SET status = 'COMPLETED'`);
    nowMs = at('2026-12-01T10:03:00Z');
    expect((await capped.tick()).map((o) => o.kind)).toEqual(['created']);
    expect((await scheduleRow(s.id)).lastError).toBeNull();
  });

  it('records a tick whose job type is gone (a handler removed) instead of failing', async () => {
    const s = await create({ cron: '* * * * *' });
    nowMs = at('2026-12-01T10:01:00Z');
    const without = ticker({ reg: new JobTypeRegistry(builtinHandlers.filter((h) => h.type !== 'noop')) });
    expect((await without.tick()).map((o) => o.kind)).toEqual(['refused']);
    expect((await scheduleRow(s.id)).lastError).toMatch(/unknown job type "noop"/);
    expect(await jobsOf(s.id)).toEqual([]);
  });

  it('the unique index is the backstop: a second job for one schedule tick is refused', async () => {
    const s = await create();
    const tickAt = new Date('2026-12-01T10:05:00Z');
    const job = () => ({
      id: randomUUID(),
      type: 'noop',
      params: {},
      ownerId,
      maxAttempts: 3,
      idempotencyKey: null,
      input: null,
      schedule: { id: s.id, tickAt },
    });
    const [first] = await store.createMany([job()], { idempotencyTtlMs: 1000 });
    expect(first.kind).toBe('created');
    await expect(store.createMany([job()], { idempotencyTtlMs: 1000 })).rejects.toThrow();
    expect(await jobsOf(s.id)).toHaveLength(1);
    // A ticker meeting it (the schedule moved back to a tick it already made, say by a host whose
    // clock is behind) moves on without a second job instead of retrying that tick for ever.
    nowMs = at('2026-12-01T10:05:30Z');
    const [o] = await ticker().tick();
    expect(o).toMatchObject({ kind: 'skipped', scheduleId: s.id });
    expect(await jobsOf(s.id)).toHaveLength(1);
    expect((await scheduleRow(s.id)).nextRunAt.toISOString()).toBe('2026-12-01T10:10:00.000Z');
  });

  it('started, it wakes on a new schedule (NOTIFY) and at each tick (its timer)', async () => {
    let idle!: () => void;
    const asleep = new Promise<void>((resolve) => (idle = resolve));
    const real = new ScheduleTicker({
      db: t.db,
      store,
      types,
      logger,
      maxActiveJobsPerUser: 0,
      onSleep: (ms) => {
        if (ms === 60_000) idle(); // nothing scheduled: asleep for its longest sleep
      },
    });
    real.start();
    try {
      await asleep;
      // Real time for this one: a schedule every second, created while the ticker sleeps for a
      // minute; only its NOTIFY can wake it in time.
      const s = await new SchedulesService(t.db.prisma, types).create(owner, {
        cron: '* * * * * *',
        type: 'noop',
      });
      const jobs = await until(
        'three ticks',
        () => jobsOf(s.id),
        (j) => j.length >= 3,
        30_000,
      );
      const ticks = jobs.map((j) => j.scheduleTickAt!.getTime());
      expect(new Set(ticks).size).toBe(ticks.length);
      expect(ticks.every((ms) => ms % 1000 === 0)).toBe(true);
    } finally {
      await real.stop();
    }
  });

  it('with listen: false, it takes no LISTEN and finds a new schedule at its timer', async () => {
    let listens = 0;
    const db: Database = {
      ...t.db,
      listen: () => {
        listens++;
        return Promise.reject(new Error('no LISTEN expected'));
      },
    };
    let idle!: () => void;
    const asleep = new Promise<void>((resolve) => (idle = resolve));
    const timerOnly = new ScheduleTicker({
      db,
      store,
      types,
      logger,
      maxActiveJobsPerUser: 0,
      listen: false,
      maxSleepMs: 300, // its only way to see a new schedule: look again
      onSleep: () => idle(),
    });
    timerOnly.start();
    try {
      await asleep; // the first pass ran at start
      const s = await new SchedulesService(t.db.prisma, types).create(owner, {
        cron: '* * * * * *',
        type: 'noop',
      });
      await until(
        'two ticks',
        () => jobsOf(s.id),
        (j) => j.length >= 2,
        30_000,
      );
      expect(listens).toBe(0);
    } finally {
      await timerOnly.stop();
    }
  });
});
