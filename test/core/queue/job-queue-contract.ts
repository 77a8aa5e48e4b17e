import { randomUUID } from 'node:crypto';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from '@jest/globals';
import type { Database } from '../../../core/db/database.js';
import type { JobQueue, ReceivedMessage } from '../../../core/queue/job-queue.js';

/** One adapter under test, created per test case. */
export interface QueueUnderTest {
  queue: JobQueue;
  /** Lets messages sent in committed transactions reach the queue (SQS: wakes the outbox relay). */
  afterCommit(): void;
}

/** How the contract suite gets a database and a queue for each case. */
export interface JobQueueHarness {
  /** Once per suite (beforeAll): the database, migrated. */
  open(): Promise<Database>;
  /** Before each case: an empty database (and, for SQS, whatever the queue needs). */
  reset(): Promise<void>;
  /** A fresh queue with this visibility timeout and a max receive count of 3. */
  create(opts: { visibilityTimeoutSeconds: number }): Promise<QueueUnderTest>;
  close(): Promise<void>;
}

/** Receives until `n` messages arrived or `ms` passed. */
export async function receiveN(queue: JobQueue, n: number, ms = 60_000): Promise<ReceivedMessage[]> {
  const deadline = Date.now() + ms;
  const got: ReceivedMessage[] = [];
  while (got.length < n && Date.now() < deadline) {
    got.push(
      ...(await queue.receive({ max: n - got.length, waitMs: Math.min(1000, deadline - Date.now()) })),
    );
  }
  return got;
}

/**
 * The behaviour every JobQueue adapter shares: SQS semantics (at-least-once, visibility timeout,
 * receive count, dead letters) and sends that commit or roll back with the job's transaction.
 */
export function describeJobQueue(name: string, harness: () => JobQueueHarness): void {
  describe(`JobQueue contract: ${name}`, () => {
    const h = harness();
    let db: Database;
    let current: QueueUnderTest | undefined;
    const ownerId = randomUUID();

    beforeAll(async () => {
      db = await h.open();
    });
    afterAll(async () => {
      await h.close();
    });
    beforeEach(async () => {
      await h.reset();
      await db.prisma.user.create({ data: { id: ownerId, name: 'owner' } });
    });
    afterEach(async () => {
      await current?.queue.close();
      current = undefined;
    });

    async function open(visibilityTimeoutSeconds = 30): Promise<QueueUnderTest> {
      current = await h.create({ visibilityTimeoutSeconds });
      return current;
    }

    async function newJob(): Promise<string> {
      const id = randomUUID();
      await db.prisma.job.create({ data: { id, type: 'noop', ownerId } });
      return id;
    }

    it('delivers a sent message once within its visibility timeout; a stale receipt is harmless', async () => {
      const { queue } = await open();
      const jobId = await newJob();
      await queue.send(jobId);
      const first = await receiveN(queue, 1);
      expect(first.map((m) => [m.jobId, m.receiveCount])).toEqual([[jobId, 1]]);
      expect(first[0].sentAt.getTime()).toBeGreaterThan(Date.now() - 60_000);
      expect(await queue.receive({ max: 10, waitMs: 0 })).toEqual([]);
      await queue.changeVisibility(first[0].receiptHandle, 0);
      const again = await receiveN(queue, 1);
      expect(again[0].receiveCount).toBe(2);
      expect(again[0].receiptHandle).not.toBe(first[0].receiptHandle);
      // The first receipt is stale now: deleting with it must not remove the newer delivery.
      await queue.delete(first[0].receiptHandle);
      await queue.changeVisibility(first[0].receiptHandle, 30);
      expect(await queue.stats()).toMatchObject({ waiting: 0, inFlight: 1 });
      await queue.delete(again[0].receiptHandle);
      await queue.delete(again[0].receiptHandle); // twice: still harmless
      expect(await queue.stats()).toMatchObject({ waiting: 0, inFlight: 0, deadLetters: 0 });
    });

    it('redelivers a message whose visibility timeout expired, counting the receive', async () => {
      const { queue } = await open(1);
      const jobId = await newJob();
      await queue.send(jobId);
      const [first] = await receiveN(queue, 1);
      expect(first.receiveCount).toBe(1);
      const [again] = await receiveN(queue, 1);
      expect([again.jobId, again.receiveCount]).toEqual([jobId, 2]);
    });

    it('never hands one message to two concurrent receivers', async () => {
      const { queue } = await open();
      const ids = await Promise.all(Array.from({ length: 20 }, () => newJob()));
      for (const id of ids) await queue.send(id);
      const got: string[] = [];
      const deadline = Date.now() + 60_000;
      while (got.length < 20 && Date.now() < deadline) {
        const batches = await Promise.all(
          Array.from({ length: 5 }, () => queue.receive({ max: 6, waitMs: 0 })),
        );
        got.push(...batches.flat().map((m) => m.jobId));
      }
      expect(new Set(got).size).toBe(got.length);
      expect(got.sort()).toEqual([...ids].sort());
    });

    it('dead-letters a message after 3 receives', async () => {
      const { queue } = await open();
      const jobId = await newJob();
      await queue.send(jobId);
      for (let i = 1; i <= 3; i++) {
        const [m] = await receiveN(queue, 1);
        expect(m.receiveCount).toBe(i);
        await queue.changeVisibility(m.receiptHandle, 0);
      }
      expect(await queue.receive({ max: 1, waitMs: 0 })).toEqual([]);
      expect(await queue.stats()).toMatchObject({ waiting: 0, inFlight: 0, deadLetters: 1 });
    });

    it('sends nothing from a rolled-back transaction, and delivers a committed one', async () => {
      const t = await open();
      const rolledBack = await newJob();
      const committed = await newJob();
      await expect(
        db.prisma.$transaction(async (tx) => {
          await t.queue.send(rolledBack, tx);
          throw new Error('boom');
        }),
      ).rejects.toThrow('boom');
      await db.prisma.$transaction(async (tx) => {
        await t.queue.send(committed, tx);
      });
      t.afterCommit();
      const got = await receiveN(t.queue, 1);
      expect(got.map((m) => m.jobId)).toEqual([committed]);
      expect(await t.queue.receive({ max: 10, waitMs: 0 })).toEqual([]);
    });

    it('sendMany: one message per job, committed or rolled back with the transaction, each delivered once', async () => {
      const t = await open();
      const rolledBack = await Promise.all(Array.from({ length: 3 }, () => newJob()));
      const committed = await Promise.all(Array.from({ length: 25 }, () => newJob()));
      await expect(
        db.prisma.$transaction(async (tx) => {
          await t.queue.sendMany(rolledBack, tx);
          throw new Error('boom');
        }),
      ).rejects.toThrow('boom');
      await db.prisma.$transaction((tx) => t.queue.sendMany(committed, tx));
      await t.queue.sendMany([]); // nothing to send: no error
      t.afterCommit();
      const got = await receiveN(t.queue, committed.length);
      expect(got.map((m) => m.jobId).sort()).toEqual([...committed].sort());
      expect(await t.queue.receive({ max: 10, waitMs: 0 })).toEqual([]);
    });

    it('sendMany without a transaction, and with a delay', async () => {
      const t = await open();
      const now = await Promise.all(Array.from({ length: 12 }, () => newJob()));
      await t.queue.sendMany(now);
      expect((await receiveN(t.queue, 12)).map((m) => m.jobId).sort()).toEqual([...now].sort());
      const later = await newJob();
      await db.prisma.$transaction((tx) => t.queue.sendMany([later], tx, { delaySeconds: 3600 }));
      t.afterCommit();
      expect(await t.queue.receive({ max: 10, waitMs: 0 })).toEqual([]);
    });

    it('wakes a long-polling receiver when a message arrives', async () => {
      const { queue } = await open();
      const jobId = await newJob();
      // The longest long poll SQS has (20 s): a deadline, generous on a loaded machine.
      const pending = queue.receive({ max: 1, waitMs: 20_000 });
      // Sent a moment later, so it usually arrives while the receive waits; sent sooner, the
      // receive still returns it, so the pause orders nothing the assertion depends on.
      setTimeout(() => void queue.send(jobId), 100);
      expect((await pending).map((m) => m.jobId)).toEqual([jobId]);
    });

    it('receives nothing once the signal is aborted', async () => {
      const { queue } = await open();
      const ac = new AbortController();
      ac.abort();
      const started = Date.now();
      expect(await queue.receive({ max: 1, waitMs: 20_000, signal: ac.signal })).toEqual([]);
      // Without waiting out its long poll (generous: a loaded machine).
      expect(Date.now() - started).toBeLessThan(15_000);
    });
  });
}
