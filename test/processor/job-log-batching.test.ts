import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from '@jest/globals';
import type { Prisma } from '../../core/db/database.js';
import { JobStore } from '../../core/jobs/job-store.js';
import { JobLogWriter } from '../../processor/job-log-writer.js';
import { dbKinds, openTestDatabase, type TestDatabase } from '../helpers/db.js';

const turn = () => new Promise<void>((resolve) => setImmediate(resolve));

/** The client with its statements counted (one per batch the writer inserts). */
function countingStatements(prisma: Prisma): { prisma: Prisma; count: () => number } {
  let n = 0;
  const counted = new Proxy(prisma, {
    get(target, key) {
      const value = Reflect.get(target, key) as unknown;
      if (key === '$executeRaw') {
        return (...args: unknown[]) => {
          n++;
          return (value as (...a: unknown[]) => unknown).apply(target, args);
        };
      }
      return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
    },
  });
  return { prisma: counted, count: () => n };
}

/** Log writing needs no queue. */
const noQueue = {
  send: () => Promise.reject(new Error('no queue here')),
  sendMany: () => Promise.reject(new Error('no queue here')),
};

describe.each(dbKinds())('JobLogWriter batching on %s', (kind) => {
  let t: TestDatabase;
  let jobId: string;

  beforeAll(async () => {
    t = await openTestDatabase(kind);
  });
  afterAll(async () => {
    await t.close();
  });
  beforeEach(async () => {
    await t.reset();
    const ownerId = randomUUID();
    jobId = randomUUID();
    await t.db.prisma.user.create({ data: { id: ownerId, name: `u-${ownerId.slice(0, 8)}` } });
    await t.db.prisma.job.create({ data: { id: jobId, type: 'noop', ownerId } });
  });

  const lines = () =>
    t.db.prisma.jobLog.findMany({
      where: { jobId },
      orderBy: { seq: 'asc' },
      select: { seq: true, message: true },
    });

  it('starts writing a line logged while idle on the next turn, not after a timer', async () => {
    const { prisma, count } = countingStatements(t.db.prisma);
    const log = new JobLogWriter(new JobStore({ prisma, query: (s) => t.db.query(s) }, noQueue), jobId);
    log.info('one');
    log.info('two'); // same turn: same batch
    expect(count()).toBe(0);
    await turn();
    await turn();
    await turn();
    expect(count()).toBe(1);
    await log.flush();
    expect(count()).toBe(1); // nothing was left to write
    expect(await lines()).toEqual([
      { seq: 1, message: 'one' },
      { seq: 2, message: 'two' },
    ]);
  });

  it('gathers lines logged while a batch is in flight into the next batch, in order', async () => {
    const { prisma, count } = countingStatements(t.db.prisma);
    const log = new JobLogWriter(new JobStore({ prisma, query: (s) => t.db.query(s) }, noQueue), jobId);
    log.info('first');
    await turn();
    await turn(); // the first batch is being written now
    for (let i = 1; i <= 20; i++) {
      log.info(`later ${i}`);
      await Promise.resolve();
    }
    await log.flush();
    const stored = await lines();
    expect(stored.map((l) => l.message)).toEqual([
      'first',
      ...Array.from({ length: 20 }, (_, i) => `later ${i + 1}`),
    ]);
    expect(stored.map((l) => l.seq)).toEqual(Array.from({ length: 21 }, (_, i) => i + 1));
    // One batch for "first", at most two for the twenty (the flush() may take the tail).
    expect(count()).toBeLessThanOrEqual(3);
  });

  it('drain hands the rest to the transition that ends the attempt, after the batch in flight', async () => {
    const store = new JobStore(t.db, noQueue);
    const attempt = (await store.claim(jobId, randomUUID(), 30))!;
    const log = new JobLogWriter(store, jobId);
    log.info('early');
    await turn();
    await turn(); // "early" is being written on its own
    log.info('last');
    const last = await log.drain();
    expect(last.map((l) => l.message)).toEqual(['last']);
    // Written with the outcome, in its transaction.
    expect(await store.complete(attempt.lease, { result: null }, last)).toBe(true);
    expect((await lines()).map((l) => l.message)).toEqual(['early', 'last']);
    expect((await t.db.prisma.job.findUniqueOrThrow({ where: { id: jobId } })).status).toBe('COMPLETED');
  });

  it('writes a burst in batches of batchSize with contiguous seqs', async () => {
    const { prisma, count } = countingStatements(t.db.prisma);
    const log = new JobLogWriter(new JobStore({ prisma, query: (s) => t.db.query(s) }, noQueue), jobId, {
      batchSize: 100,
    });
    for (let i = 1; i <= 250; i++) log.info(`line ${i}`);
    await log.flush();
    const stored = await lines();
    expect(stored).toHaveLength(250);
    expect(stored.map((l) => l.seq)).toEqual(Array.from({ length: 250 }, (_, i) => i + 1));
    expect(stored[249].message).toBe('line 250');
    expect(count()).toBe(3);
  });
});
