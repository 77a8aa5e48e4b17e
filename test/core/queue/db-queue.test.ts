import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from '@jest/globals';
import { DbQueue } from '../../../core/queue/db-queue.js';
import { until } from '../../helpers/counting.js';
import { dbKinds, openTestDatabase, type TestDatabase } from '../../helpers/db.js';
import { describeJobQueue } from './job-queue-contract.js';

describe.each(dbKinds())('DbQueue on %s', (kind) => {
  let t: TestDatabase;
  let queue: DbQueue;
  const ownerId = randomUUID();

  // One database for both the contract and the embedded specifics: opening one is the slow part.
  beforeAll(async () => {
    t = await openTestDatabase(kind);
  });
  afterAll(async () => {
    await queue?.close();
    await t.close();
  });

  describeJobQueue(`DbQueue on ${kind}`, () => ({
    open: async () => t.db,
    reset: () => t.reset(),
    create: async ({ visibilityTimeoutSeconds }) => ({
      queue: new DbQueue(t.db, { visibilityTimeoutSeconds, maxReceives: 3, idlePollMs: 200 }),
      afterCommit: () => {},
    }),
    close: async () => {},
  }));

  describe('embedded specifics', () => {
    beforeEach(async () => {
      await queue?.close();
      await t.reset();
      await t.db.prisma.user.create({ data: { id: ownerId, name: 'owner' } });
      queue = new DbQueue(t.db, { visibilityTimeoutSeconds: 30, maxReceives: 3 });
    });

    /**
     * Resolves once `n` receives of `q` wait for a wake-up (their first claim found nothing):
     * the queue's own set of waiters, read because it is the event itself.
     */
    async function waitingReceivers(q: DbQueue, n: number): Promise<void> {
      const waiters = (q as unknown as { waiters: Set<unknown> }).waiters;
      await until(
        `${n} waiting receivers`,
        () => waiters.size,
        (size) => size >= n,
        30_000,
      );
    }

    async function newJob(): Promise<string> {
      const id = randomUUID();
      await t.db.prisma.job.create({ data: { id, type: 'noop', ownerId } });
      return id;
    }

    it('redrive drops the dead letter of a job requeued by name, even when its fresh message is gone', async () => {
      const [a, b] = [await newJob(), await newJob()];
      for (const id of [a, b]) {
        await queue.send(id);
        const [m] = await queue.receive({ max: 1, waitMs: 1000 });
        await queue.deadLetter(m.receiptHandle);
      }
      // b was requeued, ran and had its fresh message acknowledged before this redrive.
      expect(await queue.redriveDeadLetters(new Set([b]))).toEqual({ moved: 1, dropped: 1 });
      const left = await t.db.prisma.queueMessage.findMany();
      expect(left.map((m) => [m.jobId, m.deadLetteredAt])).toEqual([[a, null]]);
    });

    it('wakes a waiting receiver at once through NOTIFY, not the idle poll', async () => {
      const jobId = await newJob();
      // Idle poll of 60 s: only the NOTIFY can deliver the message within the test's patience.
      const slowPoll = new DbQueue(t.db, {
        visibilityTimeoutSeconds: 30,
        maxReceives: 3,
        idlePollMs: 60_000,
      });
      try {
        await slowPoll.receive({ max: 1, waitMs: 1 }); // starts listening
        const pending = slowPoll.receive({ max: 1, waitMs: 40_000 });
        await waitingReceivers(slowPoll, 1);
        const sent = Date.now();
        await queue.send(jobId);
        const got = await pending;
        expect(got.map((m) => m.jobId)).toEqual([jobId]);
        // Far sooner than the idle poll (generous: a loaded machine).
        const wokenMs = Date.now() - sent;
        console.log(`${kind}: a waiting receiver got the message ${wokenMs} ms after the send`);
        expect(wokenMs).toBeLessThan(20_000);
      } finally {
        await slowPoll.close();
      }
    });

    it('lets go of its LISTEN while every receiver finds work, and listens again before one waits', async () => {
      // The queue's subscriptions, counted through the database's listen.
      let listening = 0;
      const db = {
        ...t.db,
        listen: async (...args: Parameters<typeof t.db.listen>) => {
          const unlisten = await t.db.listen(...args);
          listening++;
          return async () => {
            listening--;
            await unlisten();
          };
        },
      };
      // Idle poll of 10 min: only a NOTIFY can wake a waiting receiver within the test's patience.
      const q = new DbQueue(db, {
        visibilityTimeoutSeconds: 30,
        maxReceives: 3,
        idlePollMs: 600_000,
        unlistenAfterMs: 50,
      });
      try {
        expect(await q.receive({ max: 1, waitMs: 1 })).toEqual([]); // found nothing: listens
        expect(listening).toBe(1);
        // Busy: the receive finds its message at once and nobody waits; the LISTEN goes.
        const busy = await newJob();
        await queue.send(busy);
        expect((await q.receive({ max: 1, waitMs: 60_000 })).map((m) => m.jobId)).toEqual([busy]);
        await until(
          'the LISTEN let go',
          () => listening,
          (n) => n === 0,
          30_000,
        );
        // Idle again: the receiver listens before it waits, and stays listening while it waits.
        const pending = q.receive({ max: 1, waitMs: 90_000 });
        await waitingReceivers(q, 1);
        expect(listening).toBe(1);
        // A "nothing happens" check, so a pause is the point: several idle checks pass.
        await new Promise((r) => setTimeout(r, 300));
        expect(listening).toBe(1);
        const jobId = await newJob();
        await queue.send(jobId);
        expect((await pending).map((m) => m.jobId)).toEqual([jobId]);
      } finally {
        await q.close();
      }
      expect(listening).toBe(0);
    });

    it('wakes one waiting receiver per message, not every receiver of the process', async () => {
      const jobId = await newJob();
      // Claims are the queue's $queryRaw calls: count them.
      let claims = 0;
      const prisma = new Proxy(t.db.prisma, {
        get(target, key) {
          const value = Reflect.get(target, key) as unknown;
          if (typeof value !== 'function') return value;
          return (...args: unknown[]) => {
            if (key === '$queryRaw') claims++;
            return (value as (...a: unknown[]) => unknown).apply(target, args);
          };
        },
      });
      const waiting = new DbQueue(
        { ...t.db, prisma },
        { visibilityTimeoutSeconds: 30, maxReceives: 3, idlePollMs: 10_000 },
      );
      const ac = new AbortController();
      try {
        await waiting.receive({ max: 1, waitMs: 1 }); // starts listening
        const a = waiting.receive({ max: 1, waitMs: 40_000, signal: ac.signal });
        const b = waiting.receive({ max: 1, waitMs: 40_000, signal: ac.signal });
        await waitingReceivers(waiting, 2); // both made their first claim and wait now
        claims = 0;
        await queue.send(jobId);
        const first = await Promise.race([a, b]);
        expect(first.map((m) => m.jobId)).toEqual([jobId]);
        // A "nothing happens" check, so a pause is the point: room for a needless second claim.
        await new Promise((r) => setTimeout(r, 500));
        expect(claims).toBe(1);
        ac.abort();
        expect([...(await a), ...(await b)].map((m) => m.jobId)).toEqual([jobId]);
      } finally {
        ac.abort();
        await waiting.close();
      }
    });

    it('returns promptly when a waiting receive is aborted', async () => {
      const ac = new AbortController();
      const started = Date.now();
      const pending = queue.receive({ max: 1, waitMs: 45_000, signal: ac.signal });
      await waitingReceivers(queue, 1);
      ac.abort();
      expect(await pending).toEqual([]);
      // Far sooner than its wait (generous: a loaded machine).
      expect(Date.now() - started).toBeLessThan(20_000);
    });

    it('makes in-flight messages visible again after a crash (recover)', async () => {
      const jobId = await newJob();
      await queue.send(jobId);
      await queue.receive({ max: 1, waitMs: 0 });
      expect(await queue.recover()).toBe(1);
      expect((await queue.receive({ max: 1, waitMs: 0 }))[0].jobId).toBe(jobId);
    });
  });
});
