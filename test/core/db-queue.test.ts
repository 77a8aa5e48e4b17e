import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from '@jest/globals';
import { DbQueue } from '../../core/queue/db-queue.js';
import { dbKinds, openTestDatabase, type TestDatabase } from '../helpers/db.js';

describe.each(dbKinds())('DbQueue on %s', (kind) => {
  let t: TestDatabase;
  let queue: DbQueue;
  const ownerId = randomUUID();

  beforeAll(async () => {
    t = await openTestDatabase(kind);
  });
  afterAll(async () => {
    await queue?.close();
    await t.close();
  });
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

  it('delivers a sent message once within its visibility timeout', async () => {
    const jobId = await newJob();
    await queue.send(jobId);
    const first = await queue.receive({ max: 10, waitMs: 0 });
    expect(first.map((m) => [m.jobId, m.receiveCount])).toEqual([[jobId, 1]]);
    expect(await queue.receive({ max: 10, waitMs: 0 })).toEqual([]);
    await queue.changeVisibility(first[0].receiptHandle, 0);
    const again = await queue.receive({ max: 10, waitMs: 0 });
    expect(again[0].receiveCount).toBe(2);
    expect(again[0].receiptHandle).not.toBe(first[0].receiptHandle);
    // The first receipt is stale now: deleting with it must not remove the newer delivery.
    await queue.delete(first[0].receiptHandle);
    expect((await queue.stats()).inFlight).toBe(1);
    await queue.delete(again[0].receiptHandle);
    expect(await queue.stats()).toMatchObject({ waiting: 0, inFlight: 0 });
  });

  it('rolls the message back with the transaction that sent it', async () => {
    const jobId = await newJob();
    await expect(
      t.db.prisma.$transaction(async (tx) => {
        await queue.send(jobId, tx);
        throw new Error('boom');
      }),
    ).rejects.toThrow('boom');
    expect(await queue.receive({ max: 1, waitMs: 0 })).toEqual([]);
  });

  it('wakes a waiting receiver at once when a message is sent', async () => {
    const jobId = await newJob();
    // Idle poll of 10 s: only the NOTIFY can deliver the message within the test's patience.
    const slowPoll = new DbQueue(t.db, { visibilityTimeoutSeconds: 30, maxReceives: 3, idlePollMs: 10_000 });
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

  it('never hands one message to two concurrent receivers', async () => {
    const ids = await Promise.all(Array.from({ length: 20 }, () => newJob()));
    for (const id of ids) await queue.send(id);
    const batches = await Promise.all(Array.from({ length: 5 }, () => queue.receive({ max: 6, waitMs: 0 })));
    const got = batches.flat().map((m) => m.jobId);
    expect(new Set(got).size).toBe(got.length);
    expect(got.length).toBe(20);
  });

  it('dead-letters a message after maxReceives receives', async () => {
    const jobId = await newJob();
    await queue.send(jobId);
    for (let i = 1; i <= 3; i++) {
      const [m] = await queue.receive({ max: 1, waitMs: 0 });
      expect(m.receiveCount).toBe(i);
      await queue.changeVisibility(m.receiptHandle, 0);
    }
    expect(await queue.receive({ max: 1, waitMs: 0 })).toEqual([]);
    expect(await queue.stats()).toMatchObject({ waiting: 0, inFlight: 0, deadLetters: 1 });
  });

  it('makes in-flight messages visible again after a crash (releaseInFlight)', async () => {
    const jobId = await newJob();
    await queue.send(jobId);
    await queue.receive({ max: 1, waitMs: 0 });
    expect(await queue.releaseInFlight()).toBe(1);
    expect((await queue.receive({ max: 1, waitMs: 0 }))[0].jobId).toBe(jobId);
  });
});
