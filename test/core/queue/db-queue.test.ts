import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from '@jest/globals';
import { DbQueue } from '../../../core/queue/db-queue.js';
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

    async function newJob(): Promise<string> {
      const id = randomUUID();
      await t.db.prisma.job.create({ data: { id, type: 'noop', ownerId } });
      return id;
    }

    it('wakes a waiting receiver at once through NOTIFY, not the idle poll', async () => {
      const jobId = await newJob();
      // Idle poll of 10 s: only the NOTIFY can deliver the message within the test's patience.
      const slowPoll = new DbQueue(t.db, {
        visibilityTimeoutSeconds: 30,
        maxReceives: 3,
        idlePollMs: 10_000,
      });
      try {
        await slowPoll.receive({ max: 1, waitMs: 1 }); // starts listening
        const started = Date.now();
        const pending = slowPoll.receive({ max: 1, waitMs: 8_000 });
        setTimeout(() => void queue.send(jobId), 100);
        const got = await pending;
        expect(got.map((m) => m.jobId)).toEqual([jobId]);
        expect(Date.now() - started).toBeLessThan(3_000);
      } finally {
        await slowPoll.close();
      }
    });

    it('returns promptly when a waiting receive is aborted', async () => {
      const ac = new AbortController();
      const started = Date.now();
      const pending = queue.receive({ max: 1, waitMs: 15_000, signal: ac.signal });
      setTimeout(() => ac.abort(), 100);
      expect(await pending).toEqual([]);
      expect(Date.now() - started).toBeLessThan(5_000);
    });

    it('makes in-flight messages visible again after a crash (releaseInFlight)', async () => {
      const jobId = await newJob();
      await queue.send(jobId);
      await queue.receive({ max: 1, waitMs: 0 });
      expect(await queue.releaseInFlight()).toBe(1);
      expect((await queue.receive({ max: 1, waitMs: 0 }))[0].jobId).toBe(jobId);
    });
  });
});
