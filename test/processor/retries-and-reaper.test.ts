import { randomUUID } from 'node:crypto';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from '@jest/globals';
import { pino } from 'pino';
import { z } from 'zod';
import type { StartedWorker } from '../../compose/compose.js';
import type { JobQueue } from '../../core/queue/job-queue.js';
import { RetryableError, type JobHandler } from '../../processor/handler.js';
import { toRecord } from '../../processor/queue-worker.js';
import { Reaper } from '../../processor/reaper.js';
import { backoffSeconds } from '../../processor/run-job.js';
import { dbKinds, openTestDatabase, type TestDatabase } from '../helpers/db.js';
import { composeForTest, type TestPlatform } from '../helpers/platform.js';

/** Test-only job types: failures a handler marks retryable, and ones it does not. */
const runs = new Map<string, number>();
const flaky: JobHandler<{ failures: number }> = {
  type: 'flaky',
  description: 'fails `failures` times with a RetryableError, then succeeds',
  params: z.object({ failures: z.int().min(0) }),
  input: 'none',
  maxAttempts: 4,
  async run(ctx) {
    const n = (runs.get(ctx.jobId) ?? 0) + 1;
    runs.set(ctx.jobId, n);
    if (n <= ctx.params.failures) throw new RetryableError(`upstream busy (run ${n})`);
    return { runs: n };
  },
};
const broken: JobHandler<object> = {
  type: 'broken',
  description: 'throws a plain error',
  params: z.object({}),
  input: 'none',
  async run(ctx) {
    runs.set(ctx.jobId, (runs.get(ctx.jobId) ?? 0) + 1);
    throw new TypeError('cannot read properties of undefined');
  },
};

describe('backoffSeconds', () => {
  it('doubles per attempt from the base, is capped, and jitters within [0.5, 1] of it', () => {
    const b = { baseMs: 1000, maxMs: 10_000 };
    expect([1, 2, 3, 4, 5, 6].map((n) => backoffSeconds(n, b, () => 1))).toEqual([1, 2, 4, 8, 10, 10]);
    expect(backoffSeconds(3, b, () => 0)).toBe(2);
    const samples = Array.from({ length: 200 }, () => backoffSeconds(3, b));
    expect(Math.min(...samples)).toBeGreaterThanOrEqual(2);
    expect(Math.max(...samples)).toBeLessThanOrEqual(4);
    // Jitter: not all the same.
    expect(new Set(samples.map((s) => s.toFixed(3))).size).toBeGreaterThan(50);
  });
});

describe.each(dbKinds())('retries and the reaper on %s', (kind) => {
  let t: TestDatabase;
  let platform: TestPlatform;
  let queue: JobQueue;
  let worker: StartedWorker | undefined;
  const ownerId = randomUUID();
  const logger = pino({ level: 'silent' });

  beforeAll(async () => {
    t = await openTestDatabase(kind);
    platform = await composeForTest(t, {
      handlers: [flaky, broken],
      config: { visibilityTimeoutSeconds: 30, maxReceives: 5, retryBaseMs: 400, retryMaxMs: 5_000 },
      timing: { receiveWaitMs: 500 },
    });
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
  afterEach(async () => {
    await worker?.stop(1000);
    worker = undefined;
  });

  function startWorker() {
    worker = platform.startWorker({ concurrency: 2 });
  }

  async function submit(type: string, params: object, maxAttempts?: number) {
    const id = randomUUID();
    await t.db.prisma.$transaction(async (tx) => {
      await tx.job.create({
        data: {
          id,
          type,
          ownerId,
          params,
          maxAttempts: maxAttempts ?? platform.handlers.find((h) => h.type === type)?.maxAttempts ?? 3,
        },
      });
      await queue.send(id, tx);
    });
    return id;
  }

  async function settled(id: string, ms = 90_000) {
    const until = Date.now() + ms;
    for (;;) {
      const job = await t.db.prisma.job.findUniqueOrThrow({ where: { id } });
      if (['COMPLETED', 'FAILED', 'CANCELLED'].includes(job.status)) return job;
      if (Date.now() > until) throw new Error(`job still ${job.status}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  async function logs(id: string) {
    return t.db.prisma.jobLog.findMany({ where: { jobId: id }, orderBy: { seq: 'asc' } });
  }

  it('retries a retryable error after a growing backoff, as a new delayed message, then completes', async () => {
    startWorker();
    const id = await submit('flaky', { failures: 2 });
    const job = await settled(id);
    expect(job).toMatchObject({ status: 'COMPLETED', attempts: 3, result: { runs: 3 } });
    const lines = await logs(id);
    const retries = lines.filter((l) => l.message.includes('retrying in'));
    expect(retries.map((l) => l.message)).toEqual([
      expect.stringMatching(/^attempt 1 of 4 failed; retrying in \d+\.\d s: upstream busy \(run 1\)$/),
      expect.stringMatching(/^attempt 2 of 4 failed; retrying in \d+\.\d s: upstream busy \(run 2\)$/),
    ]);
    const said = retries.map((l) => Number(/retrying in (\S+) s/.exec(l.message)![1]));
    // 400 ms then 800 ms, each times a jitter in [0.5, 1].
    expect(said[0]).toBeGreaterThanOrEqual(0.2);
    expect(said[0]).toBeLessThanOrEqual(0.4);
    expect(said[1]).toBeGreaterThanOrEqual(0.4);
    expect(said[1]).toBeLessThanOrEqual(0.8);
    // The next attempt did not start before its delay was over.
    const started = lines.filter((l) => /^attempt \d of 4 started$/.test(l.message));
    expect(started).toHaveLength(3);
    for (let i = 0; i < 2; i++) {
      const waited = (started[i + 1].ts.getTime() - retries[i].ts.getTime()) / 1000;
      expect(waited).toBeGreaterThanOrEqual(said[i] - 0.1);
    }
    // Each retry was its own message; all acknowledged.
    expect(await t.db.prisma.queueMessage.count()).toBe(0);
  });

  it('queues the retry with visible_at in the future (the database queue delay)', async () => {
    const id = randomUUID();
    await t.db.prisma.job.create({ data: { id, type: 'noop', ownerId } });
    // A delay far longer than a loaded machine's pause between the send and the read below.
    await queue.send(id, undefined, { delaySeconds: 120 });
    const [row] = await t.db.prisma.$queryRaw<{ s: number }[]>`
      SELECT extract(epoch FROM visible_at - now())::float8 AS s FROM queue_messages WHERE job_id = ${id}::uuid`;
    expect(row.s).toBeGreaterThan(60);
    expect(row.s).toBeLessThanOrEqual(120);
    expect(await queue.receive({ max: 1, waitMs: 0 })).toEqual([]);
  });

  it('fails at once on an error that is not marked retryable', async () => {
    startWorker();
    const id = await submit('broken', {});
    const job = await settled(id);
    expect(job).toMatchObject({
      status: 'FAILED',
      attempts: 1,
      error: 'cannot read properties of undefined',
      deadLetteredAt: null,
    });
    expect(runs.get(id)).toBe(1);
  });

  it('gives up on a retryable error after maxAttempts (per job): FAILED, dead-lettered', async () => {
    startWorker();
    const id = await submit('flaky', { failures: 10 }, 2);
    const job = await settled(id);
    expect(job.status).toBe('FAILED');
    expect(job.attempts).toBe(2);
    expect(job.error).toBe('failed after 2 attempts: upstream busy (run 2)');
    expect(job.deadLetteredAt).not.toBeNull();
    expect(runs.get(id)).toBe(2);
    const lines = (await logs(id)).map((l) => l.message);
    expect(lines).toContain('failed after 2 attempts: upstream busy (run 2)');
    // The last message went to the dead letters (the database queue's dead-letter rows).
    const dead = await t.db.prisma.queueMessage.findMany({ where: { jobId: id } });
    expect(dead).toHaveLength(1);
    expect(dead[0].deadLetteredAt).not.toBeNull();
  });

  describe('the reaper', () => {
    /** A job its worker left RUNNING (lease long expired) and whose message is gone. */
    async function abandoned(attempts: number, maxAttempts = 3) {
      const id = randomUUID();
      await t.db.prisma.job.create({
        data: {
          id,
          type: 'noop',
          ownerId,
          status: 'RUNNING',
          attempts,
          maxAttempts,
          leaseToken: randomUUID(),
          leaseExpiresAt: new Date(Date.now() - 60_000),
          startedAt: new Date(Date.now() - 90_000),
        },
      });
      return id;
    }

    const reaper = () => new Reaper({ store: platform.api.store, logger, leaseSeconds: 2 });

    it('puts a job whose lease expired and whose message is gone back in line, and it runs', async () => {
      const id = await abandoned(1);
      // A job still within its lease (plus grace) is left alone.
      const live = await abandoned(1);
      await t.db.prisma.job.update({
        where: { id: live },
        data: { leaseExpiresAt: new Date(Date.now() + 30_000) },
      });
      expect(await reaper().sweep()).toEqual({ requeued: [id], failed: [], cancelled: [] });
      const requeued = await t.db.prisma.job.findUniqueOrThrow({ where: { id } });
      expect(requeued).toMatchObject({ status: 'PENDING', attempts: 1, leaseToken: null });
      expect((await logs(id)).map((l) => l.message)).toEqual([
        'lease of attempt 1 expired (its worker stopped, hung or was cut off, and its message is gone); requeued, attempt 2 of 3 next',
      ]);
      expect(await t.db.prisma.queueMessage.count({ where: { jobId: id } })).toBe(1);
      expect((await t.db.prisma.job.findUniqueOrThrow({ where: { id: live } })).status).toBe('RUNNING');

      startWorker();
      expect(await settled(id)).toMatchObject({ status: 'COMPLETED', attempts: 2 });
    });

    it('FAILS a job whose attempts are used up, with the reason in its error and log', async () => {
      const id = await abandoned(3);
      expect(await reaper().sweep()).toEqual({ requeued: [], failed: [id], cancelled: [] });
      const reason =
        'gave up after 3 attempts: the worker stopped (crashed or was killed) during each of them';
      const job = await t.db.prisma.job.findUniqueOrThrow({ where: { id } });
      expect(job).toMatchObject({ status: 'FAILED', attempts: 3, error: reason, leaseToken: null });
      expect(job.deadLetteredAt).not.toBeNull();
      expect(job.finishedAt).not.toBeNull();
      expect((await logs(id)).map((l) => [l.level, l.message])).toEqual([['error', reason]]);
      expect(await t.db.prisma.queueMessage.count()).toBe(0);
    });

    it('a job the reaper gave up on has its message dead-lettered when it is next delivered', async () => {
      // The worker died; its message is still in the queue (hidden, or not yet redelivered).
      const id = await abandoned(3);
      await queue.send(id);
      expect((await reaper().sweep()).failed).toEqual([id]);
      // Whoever gives up, the message ends in the dead letters: here, on its next delivery.
      const [message] = await queue.receive({ max: 1, waitMs: 1000 });
      expect(message.jobId).toBe(id);
      expect(await platform.processor({ Records: [toRecord(message)] })).toEqual({ batchItemFailures: [] });
      const dead = await t.db.prisma.queueMessage.findMany({ where: { jobId: id } });
      expect(dead.map((m) => m.deadLetteredAt !== null)).toEqual([true]);
      expect((await queue.stats()).deadLetters).toBe(1);
      expect((await t.db.prisma.job.findUniqueOrThrow({ where: { id } })).status).toBe('FAILED');
    });

    it('a given-up job with two messages in the queue dead-letters one of them', async () => {
      // Its old message (hidden while its worker hung) and the one an earlier sweep requeued.
      const id = await abandoned(3);
      await queue.send(id);
      await queue.send(id);
      expect((await reaper().sweep()).failed).toEqual([id]);
      const received = await queue.receive({ max: 2, waitMs: 1000 });
      expect(received.map((m) => m.jobId)).toEqual([id, id]);
      for (const m of received) {
        expect(await platform.processor({ Records: [toRecord(m)] })).toEqual({ batchItemFailures: [] });
      }
      // The other message was answered 'done' (no failure above): its worker deletes it.
      expect((await queue.stats()).deadLetters).toBe(1);
    });

    it('handles each expired job once when several reapers sweep at once', async () => {
      const ids = await Promise.all(Array.from({ length: 20 }, () => abandoned(1)));
      const results = await Promise.all([reaper().sweep(), reaper().sweep(), reaper().sweep()]);
      const requeued = results.flatMap((r) => r.requeued).sort();
      expect(requeued).toEqual([...ids].sort());
      // One message each, one log line each.
      expect(await t.db.prisma.queueMessage.count()).toBe(20);
      expect(await t.db.prisma.jobLog.count()).toBe(20);
    });

    it('a stale worker cannot overwrite the job after the reaper took it back', async () => {
      const id = await abandoned(1);
      const staleToken = (await t.db.prisma.job.findUniqueOrThrow({ where: { id } })).leaseToken!;
      await reaper().sweep();
      // What the old worker's outcome write does when it wakes up.
      const lease = { jobId: id, token: staleToken };
      expect(await platform.api.store.complete(lease, { result: { stale: true } }, [])).toBe(false);
      expect((await t.db.prisma.job.findUniqueOrThrow({ where: { id } })).status).toBe('PENDING');
    });
  });
});
