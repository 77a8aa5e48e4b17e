import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from '@jest/globals';
import type { JobQueue } from '../../core/queue/job-queue.js';
import type { ProcessBatch } from '../../processor/processor.js';
import { toRecord } from '../../processor/queue-worker.js';
import { dbKinds, openTestDatabase, type TestDatabase } from '../helpers/db.js';
import { createLatch } from '../helpers/latch.js';
import { composeForTest, type TestPlatform } from '../helpers/platform.js';

/** At-least-once delivery must never run a job twice: duplicates are acknowledged and logged. */
describe.each(dbKinds())('duplicate deliveries on %s', (kind) => {
  let t: TestDatabase;
  let platform: TestPlatform;
  let process: ProcessBatch;
  let queue: JobQueue;
  const ownerId = randomUUID();
  const latch = createLatch();

  beforeAll(async () => {
    t = await openTestDatabase(kind);
    platform = await composeForTest(t, { handlers: [latch.handler] });
    process = platform.processor;
    queue = platform.api.queue;
  });
  afterAll(async () => {
    await platform.dispose();
    await t.close();
  });
  beforeEach(async () => {
    await t.reset();
    await t.db.prisma.user.create({ data: { id: ownerId, name: 'owner' } });
  });

  async function queuedJob(params: object, type = 'noop') {
    const id = randomUUID();
    await t.db.prisma.job.create({ data: { id, type, ownerId, params } });
    await queue.send(id);
    const [message] = await queue.receive({ max: 1, waitMs: 1000 });
    return { id, record: toRecord(message) };
  }

  async function messages(id: string): Promise<string[]> {
    const logs = await t.db.prisma.jobLog.findMany({ where: { jobId: id }, orderBy: { seq: 'asc' } });
    return logs.map((l) => l.message);
  }

  it('runs a message delivered twice in a row once', async () => {
    const { id, record } = await queuedJob({ logLines: 1 });
    expect(await process({ Records: [record] })).toEqual({ batchItemFailures: [] });
    expect(await process({ Records: [record] })).toEqual({ batchItemFailures: [] });
    const job = await t.db.prisma.job.findUniqueOrThrow({ where: { id } });
    expect([job.status, job.attempts]).toEqual(['COMPLETED', 1]);
    const lines = await messages(id);
    expect(lines.filter((m) => m.startsWith('completed in'))).toHaveLength(1);
    expect(lines.at(-1)).toBe('duplicate delivery ignored (job is COMPLETED)');
  });

  it('runs a message delivered three times concurrently once', async () => {
    const { id, record } = await queuedJob({}, 'latch');
    const deliveries = [1, 2, 3].map(() => process({ Records: [record] }));
    // One runs it and waits on the latch; the two copies find it RUNNING and return. Only then
    // does the runner go on.
    await latch.started(id);
    let returned = 0;
    await new Promise<void>((copiesReturned) => {
      for (const d of deliveries) void d.then(() => ++returned === 2 && copiesReturned());
    });
    latch.release(id);
    const results = await Promise.all(deliveries);
    // One ran it; the copies that found it running keep their message (should the runner die,
    // that message is how the job runs again) and are ignored once it has finished.
    const failures = results.map((r) => r.batchItemFailures.length).sort();
    expect(failures).toEqual([0, 1, 1]);
    expect(await process({ Records: [record] })).toEqual({ batchItemFailures: [] });
    const job = await t.db.prisma.job.findUniqueOrThrow({ where: { id } });
    expect([job.status, job.attempts]).toEqual(['COMPLETED', 1]);
    const lines = await messages(id);
    expect(lines.filter((m) => m.startsWith('attempt '))).toEqual(['attempt 1 of 3 started']);
    expect(lines.filter((m) => m.startsWith('completed in'))).toHaveLength(1);
    expect(lines.filter((m) => m.startsWith('duplicate delivery ignored'))).toEqual([
      'duplicate delivery ignored (job is RUNNING)',
      'duplicate delivery ignored (job is RUNNING)',
      'duplicate delivery ignored (job is COMPLETED)',
    ]);
  });

  it('runs a batch holding the same message twice once', async () => {
    const { id, record } = await queuedJob({});
    // The copy is set aside (RUNNING: kept for redelivery) or ignored (already COMPLETED).
    const res = await process({ Records: [record, { ...record, messageId: 'copy' }] });
    expect(res.batchItemFailures.length).toBeLessThanOrEqual(1);
    expect((await t.db.prisma.job.findUniqueOrThrow({ where: { id } })).attempts).toBe(1);
  });
});
