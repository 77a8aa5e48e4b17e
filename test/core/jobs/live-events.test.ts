import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { LIVE_CHANNEL, LiveEvents, type LiveEvent } from '../../../core/jobs/live-events.js';
import { until } from '../../helpers/counting.js';
import { dbKinds, openTestDatabase, type TestDatabase } from '../../helpers/db.js';

/**
 * LiveEvents LISTENs while someone subscribes, and only then: a process nobody follows takes no
 * notification of every job's change.
 */
describe.each(dbKinds())('LiveEvents on %s', (kind) => {
  let t: TestDatabase;
  beforeAll(async () => {
    t = await openTestDatabase(kind);
  });
  afterAll(async () => {
    await t?.close();
  });

  /** Whether any session of the database LISTENs on the live channel now. */
  async function listening(): Promise<boolean> {
    if (kind === 'pglite') {
      // One session: the database's own.
      const rows = await t.db.prisma.$queryRaw<{ c: string }[]>`SELECT pg_listening_channels() AS c`;
      return rows.some((r) => r.c === LIVE_CHANNEL);
    }
    const rows = await t.db.prisma.$queryRaw<{ n: number }[]>`
      SELECT count(*)::int AS n FROM pg_stat_activity
      WHERE datname = current_database() AND query = ${`LISTEN "${LIVE_CHANNEL}"`}`;
    return rows[0].n > 0;
  }
  const notify = (id: string) =>
    t.db.prisma.$executeRaw`SELECT pg_notify(${LIVE_CHANNEL}, ${JSON.stringify({ k: 'log', id, seq: 1 })})`;

  it('listens from the first subscriber to the last, again for the next, and delivers each event once', async () => {
    const live = new LiveEvents(t.db);
    try {
      expect(await listening()).toBe(false);
      const first: LiveEvent[] = [];
      const leaveFirst = await live.subscribe((e) => first.push(e));
      const perJob: LiveEvent[] = [];
      const leaveJob = await live.subscribeJob('job-1', (e) => perJob.push(e));
      expect(await listening()).toBe(true);
      await notify('job-1');
      await until(
        'the event',
        () => perJob.length,
        (n) => n === 1,
      );

      leaveFirst();
      expect(await listening()).toBe(true); // one subscriber left
      leaveJob();
      leaveJob(); // twice: no harm
      expect(live.subscribers).toBe(0);
      await until('the UNLISTEN', listening, (l) => !l);

      // A new subscriber right away: listening again, and each event once (the stopped LISTEN's
      // delivery, were it still running, must not double it).
      const again: LiveEvent[] = [];
      const leaveAgain = await live.subscribe((e) => again.push(e));
      expect(await listening()).toBe(true);
      await notify('job-2');
      await notify('job-3');
      await until(
        'both events',
        () => again.length,
        (n) => n >= 2,
      );
      expect(again.map((e) => (e.k === 'log' ? e.id : e.k))).toEqual(['job-2', 'job-3']);
      expect(first).toHaveLength(1);
      leaveAgain();
      await until('the UNLISTEN', listening, (l) => !l);
    } finally {
      await live.close();
    }
  }, 120_000);

  it('a subscriber that leaves and one that comes at once: the second gets its events', async () => {
    const live = new LiveEvents(t.db);
    try {
      const leave = await live.subscribe(() => {});
      const got: LiveEvent[] = [];
      leave(); // the UNLISTEN starts …
      const leaveNext = await live.subscribe((e) => got.push(e)); // … and a LISTEN follows it
      await notify('job-4');
      await notify('job-5');
      await until(
        'the events',
        () => got.length,
        (n) => n >= 2,
      );
      expect(got.map((e) => (e.k === 'log' ? e.id : e.k))).toEqual(['job-4', 'job-5']);
      expect(await listening()).toBe(true);
      leaveNext();
    } finally {
      await live.close();
    }
  }, 120_000);
});
