import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from '@jest/globals';
import { JobStore, type JobInsert, type Lease } from '../../../core/jobs/job-store.js';
import { admitWithinQuota } from '../../../core/jobs/quota.js';
import { line } from '../../../core/jobs/store/types.js';
import { DbQueue } from '../../../core/queue/db-queue.js';
import { dbKinds, openTestDatabase, type TestDatabase } from '../../helpers/db.js';

const DAY_MS = 24 * 60 * 60 * 1000;

/**
 * The job store's contract: every transition, on PGlite and on PostgreSQL. Each transition an
 * attempt makes is guarded by its lease: once the attempt no longer holds the job (claimed again,
 * cancelled, given up on), its writes change nothing.
 */
describe.each(dbKinds())('JobStore on %s', (kind) => {
  let t: TestDatabase;
  let queue: DbQueue;
  let store: JobStore;
  const ownerId = randomUUID();

  beforeAll(async () => {
    t = await openTestDatabase(kind);
    queue = new DbQueue(t.db, { visibilityTimeoutSeconds: 30, maxReceives: 5 });
    store = new JobStore(t.db, queue);
  });
  afterAll(async () => {
    await queue.close();
    await t.close();
  });
  beforeEach(async () => {
    await t.reset();
    await t.db.prisma.user.create({ data: { id: ownerId, name: 'owner' } });
  });

  const row = (id: string) => t.db.prisma.job.findUniqueOrThrow({ where: { id } });
  const messages = (id: string) => t.db.prisma.queueMessage.findMany({ where: { jobId: id } });
  const logs = async (id: string) =>
    (await t.db.prisma.jobLog.findMany({ where: { jobId: id }, orderBy: { seq: 'asc' } })).map((l) => [
      l.seq,
      l.level,
      l.message,
    ]);

  async function created(opts: { maxAttempts?: number; key?: string } = {}) {
    const job = await store.create(
      {
        id: randomUUID(),
        type: 'noop',
        params: { sleepMs: 1 },
        ownerId,
        maxAttempts: opts.maxAttempts ?? 3,
        idempotencyKey: opts.key ?? null,
      },
      { idempotencyTtlMs: DAY_MS },
    );
    return job.id;
  }

  async function running(opts: { maxAttempts?: number } = {}): Promise<Lease> {
    const id = await created(opts);
    const attempt = await store.claim(id, randomUUID(), 30);
    return attempt!.lease;
  }

  /** Makes the job's lease expired `secondsAgo` ago (its worker died). */
  async function expire(id: string, secondsAgo = 60) {
    await t.db.prisma.$executeRaw`
      UPDATE jobs SET lease_expires_at = now() - make_interval(secs => ${secondsAgo}::float8) WHERE id = ${id}::uuid`;
  }

  describe('create', () => {
    it('records a PENDING job and its message in one transaction', async () => {
      const id = await created();
      expect(await row(id)).toMatchObject({ status: 'PENDING', attempts: 0, params: { sleepMs: 1 } });
      expect(await messages(id)).toHaveLength(1);
    });

    it('refuses a live Idempotency-Key of the owner (P2002), frees an expired one', async () => {
      const first = await created({ key: 'k1' });
      await expect(created({ key: 'k1' })).rejects.toMatchObject({ code: 'P2002' });
      await t.db.prisma
        .$executeRaw`UPDATE jobs SET created_at = now() - interval '2 days' WHERE id = ${first}::uuid`;
      const second = await created({ key: 'k1' });
      expect((await row(second)).idempotencyKey).toBe('k1');
      expect((await row(first)).idempotencyKey).toBeNull();
    });

    it('rolls back the job and its message when resolving the input fails', async () => {
      const id = randomUUID();
      await expect(
        store.create(
          { id, type: 'noop', params: {}, ownerId, maxAttempts: 3, idempotencyKey: null },
          {
            idempotencyTtlMs: DAY_MS,
            input: async () => {
              throw new Error('upload not found');
            },
          },
        ),
      ).rejects.toThrow('upload not found');
      expect(await t.db.prisma.job.count()).toBe(0);
      expect(await t.db.prisma.queueMessage.count()).toBe(0);
    });
  });

  describe('createMany', () => {
    const insert = (over: Partial<JobInsert> = {}): JobInsert => ({
      id: randomUUID(),
      type: 'noop',
      params: { sleepMs: 1 },
      ownerId,
      maxAttempts: 3,
      idempotencyKey: null,
      input: null,
      ...over,
    });

    it('records every job and one message each in one transaction; outcomes in order, rows as Prisma reads them', async () => {
      const jobs = [
        insert(),
        insert({ params: { logLines: 2 }, maxAttempts: 5, idempotencyKey: 'a' }),
        insert({ input: { key: 'inputs/x', name: 'x.csv', size: 12, sha256: 'f'.repeat(64) } }),
      ];
      const out = await store.createMany(jobs, { idempotencyTtlMs: DAY_MS });
      expect(out.map((o) => o.kind)).toEqual(['created', 'created', 'created']);
      for (const [i, o] of out.entries()) {
        if (o.kind !== 'created') throw new Error('not created');
        expect(o.job.id).toBe(jobs[i].id);
        // The raw RETURNING gives the model's own types (Dates, bigints, JSON), field for field.
        expect(o.job).toEqual(await row(jobs[i].id));
        expect(await messages(jobs[i].id)).toHaveLength(1);
      }
      expect(await row(jobs[1].id)).toMatchObject({
        status: 'PENDING',
        params: { logLines: 2 },
        maxAttempts: 5,
      });
      expect(await row(jobs[2].id)).toMatchObject({
        inputKey: 'inputs/x',
        inputSize: 12n,
        inputName: 'x.csv',
      });
      expect(await store.createMany([], { idempotencyTtlMs: DAY_MS })).toEqual([]);
    });

    it('without a key or a quota: the rows, their messages and the wake-up in one statement', async () => {
      let statements = 0;
      const counted = new JobStore(
        {
          prisma: t.db.prisma,
          query: (s) => {
            statements++;
            return t.db.query(s);
          },
        },
        queue,
      );
      let wake!: () => void;
      const woken = new Promise<void>((resolve) => (wake = resolve));
      const unlisten = await t.db.listen('jobs_queue', () => wake());
      try {
        const jobs = [
          insert(),
          insert({ input: { key: 'inputs/y', name: 'y.csv', size: 7, sha256: 'e'.repeat(64) } }),
        ];
        const out = await counted.createMany(jobs, { idempotencyTtlMs: DAY_MS });
        expect(statements).toBe(1);
        for (const [i, o] of out.entries()) {
          if (o.kind !== 'created') throw new Error('not created');
          expect(o.job).toEqual(await row(jobs[i].id));
          expect(await messages(jobs[i].id)).toHaveLength(1);
        }
        await woken; // a receiver waiting on the queue's channel hears of them
      } finally {
        await unlisten();
      }
    });

    it('skips a job whose key is held (live, or earlier in the list) without aborting the others; frees an expired key', async () => {
      const live = await created({ key: 'live' });
      const old = await created({ key: 'old' });
      await t.db.prisma
        .$executeRaw`UPDATE jobs SET created_at = now() - interval '2 days' WHERE id = ${old}::uuid`;
      const jobs = [
        insert({ idempotencyKey: 'live' }),
        insert({ idempotencyKey: 'twice' }),
        insert({ idempotencyKey: 'twice' }),
        insert({ idempotencyKey: 'old' }),
        insert(),
      ];
      const out = await store.createMany(jobs, { idempotencyTtlMs: DAY_MS });
      expect(out.map((o) => o.kind)).toEqual(['key-taken', 'created', 'key-taken', 'created', 'created']);
      expect((await row(live)).idempotencyKey).toBe('live');
      expect((await row(old)).idempotencyKey).toBeNull();
      expect((await row(jobs[3].id)).idempotencyKey).toBe('old');
      for (const i of [0, 2]) {
        expect(await t.db.prisma.job.findUnique({ where: { id: jobs[i].id } })).toBeNull();
        expect(await messages(jobs[i].id)).toHaveLength(0);
      }
      expect(await t.db.prisma.queueMessage.count()).toBe(2 + 3);
    });

    it('leaves out the jobs `admit` refuses (the quota), in the same transaction', async () => {
      const jobs = [insert(), insert(), insert()];
      const seen: number[] = [];
      const out = await store.createMany(jobs, {
        idempotencyTtlMs: DAY_MS,
        admit: async (tx, js) => {
          seen.push(js.length, await tx.job.count());
          return [true, false, true];
        },
      });
      expect(seen).toEqual([3, 0]);
      expect(out.map((o) => o.kind)).toEqual(['created', 'refused', 'created']);
      expect(await t.db.prisma.job.count()).toBe(2);
      expect(await messages(jobs[1].id)).toHaveLength(0);
    });

    it('admitWithinQuota admits each owner in order while it has room', async () => {
      const other = randomUUID();
      await t.db.prisma.user.create({ data: { id: other, name: 'other' } });
      await created();
      const jobs = [insert(), insert({ ownerId: other }), insert(), insert({ ownerId: other })];
      const out = await store.createMany(jobs, { idempotencyTtlMs: DAY_MS, admit: admitWithinQuota(2) });
      expect(out.map((o) => o.kind)).toEqual(['created', 'created', 'refused', 'created']);
      const none = await store.createMany([insert()], {
        idempotencyTtlMs: DAY_MS,
        admit: admitWithinQuota(2),
      });
      expect(none.map((o) => o.kind)).toEqual(['refused']);
      const uncapped = await store.createMany([insert()], {
        idempotencyTtlMs: DAY_MS,
        admit: admitWithinQuota(0),
      });
      expect(uncapped.map((o) => o.kind)).toEqual(['created']);
    });

    it('writes nothing when the transaction fails (the rows and their messages roll back together)', async () => {
      const failing = new JobStore(t.db, {
        send: () => Promise.reject(new Error('unused')),
        sendMany: async (ids, tx) => {
          await queue.sendMany(ids, tx);
          throw new Error('queue down');
        },
      });
      await expect(
        failing.createMany([insert(), insert({ idempotencyKey: 'k' })], { idempotencyTtlMs: DAY_MS }),
      ).rejects.toThrow('queue down');
      expect(await t.db.prisma.job.count()).toBe(0);
      expect(await t.db.prisma.queueMessage.count()).toBe(0);
    });

    it('takes a thousand jobs in one call', async () => {
      const jobs = Array.from({ length: 1000 }, (_, i) => insert({ idempotencyKey: `k${i}` }));
      const out = await store.createMany(jobs, { idempotencyTtlMs: DAY_MS });
      expect(out.every((o) => o.kind === 'created')).toBe(true);
      expect(await t.db.prisma.job.count()).toBe(1000);
      expect(await t.db.prisma.queueMessage.count()).toBe(1000);
    });
  });

  describe('claim', () => {
    it('claims a PENDING job once: RUNNING, attempt counted, leased', async () => {
      const id = await created();
      const token = randomUUID();
      const attempt = await store.claim(id, token, 30);
      expect(attempt?.job).toMatchObject({ id, prevStatus: 'PENDING', attempts: 1, maxAttempts: 3 });
      expect(await row(id)).toMatchObject({ status: 'RUNNING', attempts: 1, leaseToken: token });
      expect(await store.claim(id, randomUUID(), 30)).toBeUndefined();
    });

    it('claims a RUNNING job again only after its lease expired', async () => {
      const lease = await running();
      expect(await store.claim(lease.jobId, randomUUID(), 30)).toBeUndefined();
      await expire(lease.jobId);
      const again = await store.claim(lease.jobId, randomUUID(), 30);
      expect(again?.job).toMatchObject({ prevStatus: 'RUNNING', attempts: 2, cancelRequested: false });
    });

    it('does not claim a finished or missing job', async () => {
      const lease = await running();
      await store.complete(lease, { result: null }, []);
      expect(await store.claim(lease.jobId, randomUUID(), 30)).toBeUndefined();
      expect(await store.claim(randomUUID(), randomUUID(), 30)).toBeUndefined();
    });
  });

  describe('claimNext (the database queue: messages and their jobs in one statement)', () => {
    const next = (max: number) => store.claimNext({ max, leaseSeconds: 30, visibilitySeconds: 45 });

    it('claims up to max messages with their jobs, logs "started", hides each message', async () => {
      const ids = [await created(), await created(), await created()];
      const got = await next(2);
      expect(got.map((m) => m.jobId)).toEqual(ids.slice(0, 2));
      for (const m of got) {
        expect(m.receiveCount).toBe(1);
        expect(m.claimed).toMatchObject({
          startedLogged: true,
          job: { prevStatus: 'PENDING', id: m.jobId, attempts: 1, maxAttempts: 3 },
          lease: { jobId: m.jobId, receipt: m.receiptHandle },
        });
        expect(await row(m.jobId)).toMatchObject({
          status: 'RUNNING',
          attempts: 1,
          leaseToken: m.claimed!.lease.token,
          logSeq: 1,
        });
        expect(await logs(m.jobId)).toEqual([[1, 'info', 'attempt 1 of 3 started']]);
        const [msg] = await messages(m.jobId);
        expect(msg.receiptHandle).toBe(m.receiptHandle);
        expect(msg.visibleAt.getTime() - Date.now()).toBeGreaterThan(40_000);
      }
      expect((await row(ids[2])).status).toBe('PENDING');
      expect((await next(5)).map((m) => m.jobId)).toEqual([ids[2]]);
      expect(await next(5)).toEqual([]);
    });

    it("hands back a duplicate message unclaimed, and a finished job's message unclaimed", async () => {
      const id = await created();
      await queue.send(id); // a duplicate of its message
      const got = await next(5);
      expect(got.map((m) => m.jobId)).toEqual([id, id]);
      expect(got.filter((m) => m.claimed !== null)).toHaveLength(1);
      expect((await row(id)).attempts).toBe(1);

      const done = await created();
      const attempt = (await next(1))[0].claimed!;
      await store.complete(attempt.lease, { result: null }, []);
      await queue.send(done);
      expect((await next(1))[0]).toMatchObject({ jobId: done, claimed: null });
    });

    it('re-claims a job whose lease expired without logging for it (the processor says why)', async () => {
      const id = await created();
      await next(1);
      await expire(id);
      await t.db.prisma
        .$executeRaw`UPDATE queue_messages SET visible_at = now() - interval '1 second' WHERE job_id = ${id}::uuid`;
      const [again] = await next(1);
      expect(again.claimed).toMatchObject({
        startedLogged: false,
        job: { prevStatus: 'RUNNING', attempts: 2 },
      });
      expect(await logs(id)).toHaveLength(1);
    });

    it('dead-letters a message received maxReceives times instead of delivering it', async () => {
      const id = await created();
      await t.db.prisma.$executeRaw`UPDATE queue_messages SET receive_count = 5 WHERE job_id = ${id}::uuid`;
      expect(await next(1)).toEqual([]);
      expect((await messages(id))[0].deadLetteredAt).not.toBeNull();
      expect((await row(id)).status).toBe('PENDING');
    });

    it("acknowledges the delivery in the outcome's transaction; a give-up keeps it for the dead letters", async () => {
      const a = await created();
      const b = await created({ maxAttempts: 1 });
      const [ma, mb] = await next(2);
      expect(store.acknowledgesWithOutcome(ma.claimed!.lease)).toBe(true);
      await store.complete(ma.claimed!.lease, { result: 1 }, []);
      expect(await messages(a)).toEqual([]);
      await store.giveUp(mb.claimed!.lease, { reason: 'x' }, []);
      expect(await messages(b)).toHaveLength(1);
      // A lease without a receipt (SQS: the worker deletes the message itself) acknowledges nothing.
      expect(store.acknowledgesWithOutcome({ jobId: a, token: randomUUID() })).toBe(false);
    });

    it('spreads jobs over concurrent receivers, each job claimed once', async () => {
      const ids = await Promise.all(Array.from({ length: 20 }, () => created()));
      const got = (await Promise.all([next(7), next(7), next(7), next(7)])).flat();
      got.push(...(await next(20))); // any a receiver skipped while another held it
      expect(got.map((m) => m.jobId).sort()).toEqual([...ids].sort());
      expect(got.every((m) => m.claimed !== null)).toBe(true);
    });
  });

  describe('heartbeat', () => {
    it('extends a held lease, reports a cancel request, and tells a lost one', async () => {
      const lease = await running();
      const before = (await row(lease.jobId)).leaseExpiresAt!.getTime();
      expect(await store.heartbeat(lease, 300)).toEqual({ held: true, cancelRequested: false });
      expect((await row(lease.jobId)).leaseExpiresAt!.getTime()).toBeGreaterThan(before);

      expect(await store.requestCancel(lease.jobId, 'alice')).toEqual({ kind: 'requested' });
      expect(await store.heartbeat(lease, 30)).toEqual({ held: true, cancelRequested: true });

      await expire(lease.jobId);
      await store.claim(lease.jobId, randomUUID(), 30); // another attempt takes over
      expect(await store.heartbeat(lease, 30)).toEqual({ held: false, status: 'RUNNING' });
    });
  });

  describe('log lines', () => {
    it('appends with contiguous seqs, from any number of writers', async () => {
      const id = await created();
      await Promise.all(
        Array.from({ length: 10 }, (_, w) =>
          store.appendLogs(id, [line('info', `w${w} a`), line('info', `w${w} b`)]),
        ),
      );
      const seqs = (await logs(id)).map(([seq]) => seq);
      expect(seqs).toEqual(Array.from({ length: 20 }, (_, i) => i + 1));
      expect((await row(id)).logSeq).toBe(20);
    });
  });

  describe("an attempt's outcome", () => {
    it('complete: COMPLETED with result, final progress and last lines; lease cleared', async () => {
      const lease = await running();
      expect(await store.progress(lease, { done: 5, total: 10 })).toBe(true);
      const ok = await store.complete(lease, { result: { rows: 10n }, progress: { done: 10, total: 10 } }, [
        line('info', 'done'),
      ]);
      expect(ok).toBe(true);
      expect(await row(lease.jobId)).toMatchObject({
        status: 'COMPLETED',
        result: { rows: 10 },
        progressDone: 10n,
        progressTotal: 10n,
        leaseToken: null,
        leaseExpiresAt: null,
        error: null,
      });
      expect((await row(lease.jobId)).finishedAt).not.toBeNull();
      expect(await logs(lease.jobId)).toEqual([[1, 'info', 'done']]);
    });

    /** A store whose raw statements are counted. */
    function countedStore() {
      const counter = { statements: 0 };
      const store = new JobStore(
        {
          prisma: t.db.prisma,
          query: (s) => {
            counter.statements++;
            return t.db.query(s);
          },
        },
        queue,
      );
      return { store, counter };
    }
    const claimAll = (s: JobStore, max: number) =>
      s.claimNext({ max, leaseSeconds: 30, visibilitySeconds: 45 });

    it('complete: ends that arrive together share one statement, each guarded by its own lease', async () => {
      const { store: counted, counter } = countedStore();
      const ids = [await created(), await created(), await created()];
      const [a, b, c] = (await claimAll(counted, 3)).map((m) => m.claimed!.lease);
      const stale = { ...c, token: randomUUID() }; // an attempt that lost its lease (c's delivery)
      counter.statements = 0;
      const outs = await Promise.all([
        counted.complete(a, { result: 'a', progress: { done: 1, total: 1 } }, [line('info', 'a done')]),
        counted.complete(b, { result: 'b' }, [line('info', 'b 1'), line('info', 'b 2')]),
        counted.complete(stale, { result: 'stale' }, [line('warn', 'stale')]),
      ]);
      expect(outs).toEqual([true, true, false]);
      // The first commits at once (nothing in flight), the two that came meanwhile together.
      expect(counter.statements).toBe(2);
      expect(await row(ids[0])).toMatchObject({
        status: 'COMPLETED',
        result: 'a',
        progressDone: 1n,
        leaseToken: null,
      });
      expect(await row(ids[1])).toMatchObject({ status: 'COMPLETED', result: 'b', progressDone: null });
      expect(await row(ids[2])).toMatchObject({ status: 'RUNNING', result: null, leaseToken: c.token });
      expect(await logs(ids[0])).toEqual([
        [1, 'info', 'attempt 1 of 3 started'],
        [2, 'info', 'a done'],
      ]);
      expect((await logs(ids[1])).map(([seq, , m]) => [seq, m])).toEqual([
        [1, 'attempt 1 of 3 started'],
        [2, 'b 1'],
        [3, 'b 2'],
      ]);
      // A stale attempt's lines are still written, and its delivery is done with.
      expect((await logs(ids[2])).map(([, , m]) => m)).toEqual(['attempt 1 of 3 started', 'stale']);
      for (const id of ids) expect(await messages(id)).toEqual([]);
    });

    it('complete: two ends of one job in one group are written one after the other', async () => {
      const id = await created();
      const [m] = await claimAll(store, 1);
      const current = m.claimed!.lease;
      const first = await running(); // another job, whose end goes first
      const stale = { ...current, token: randomUUID() };
      const outs = await Promise.all([
        store.complete(first, { result: 0 }, []),
        store.complete(stale, { result: 'stale' }, [line('warn', 'stale end')]),
        store.complete(current, { result: 'ok' }, [line('info', 'real end')]),
      ]);
      expect(outs).toEqual([true, false, true]);
      expect(await row(id)).toMatchObject({ status: 'COMPLETED', result: 'ok', logSeq: 3 });
      expect((await logs(id)).map(([seq]) => seq)).toEqual([1, 2, 3]);
    });

    it('fail: FAILED with error and data, not dead-lettered', async () => {
      const lease = await running();
      expect(await store.fail(lease, { error: 'bad rows', result: { invalid: 3 } }, [])).toBe(true);
      expect(await row(lease.jobId)).toMatchObject({
        status: 'FAILED',
        error: 'bad rows',
        result: { invalid: 3 },
        deadLetteredAt: null,
      });
    });

    it('give up: FAILED and dead-lettered, attempts corrected', async () => {
      const lease = await running({ maxAttempts: 1 });
      expect(await store.giveUp(lease, { reason: 'gave up', attempts: 0 }, [line('error', 'gave up')])).toBe(
        true,
      );
      const job = await row(lease.jobId);
      expect(job).toMatchObject({ status: 'FAILED', error: 'gave up', attempts: 0 });
      expect(job.deadLetteredAt).not.toBeNull();
      expect(await store.state(lease.jobId)).toEqual({ status: 'FAILED', deadLettered: true });
    });

    it("dead-letter move: one message per given-up job, the giver-up's own when it held one", async () => {
      // The claim gave up holding message m1: m1 is the job's dead letter, m2 (a second copy) is not.
      const held = await running({ maxAttempts: 1 });
      await store.giveUp(held, { reason: 'gave up', messageId: 'm1' }, []);
      expect(await store.claimDeadLetterMove(held.jobId, 'm2')).toBe(false);
      expect(await store.claimDeadLetterMove(held.jobId, 'm1')).toBe(true); // m1 again, after a crash

      // The reaper gave up holding no message: the first delivery to ask moves, the other does not.
      const reaped = await running({ maxAttempts: 1 });
      await store.giveUp(reaped, { reason: 'gave up' }, []);
      const asks = await Promise.all([
        store.claimDeadLetterMove(reaped.jobId, 'a'),
        store.claimDeadLetterMove(reaped.jobId, 'b'),
      ]);
      expect(asks.filter(Boolean)).toHaveLength(1);

      // Not given up on: nothing to move. Retried: the mark is cleared with the dead-letter mark.
      const failed = await running();
      await store.fail(failed, { error: 'bad' }, []);
      expect(await store.claimDeadLetterMove(failed.jobId, 'm1')).toBe(false);
      expect(await store.retry(held.jobId)).toBe(true);
      expect((await row(held.jobId)).deadLetterMessageId).toBeNull();
    });

    it('requeue: PENDING with the error and a new delayed message', async () => {
      const lease = await running();
      const before = (await messages(lease.jobId)).length;
      expect(
        await store.requeue(lease, { error: 'busy', delaySeconds: 60 }, [line('warn', 'retrying')]),
      ).toBe(true);
      expect(await row(lease.jobId)).toMatchObject({
        status: 'PENDING',
        error: 'busy',
        attempts: 1,
        leaseToken: null,
      });
      const msgs = await messages(lease.jobId);
      expect(msgs).toHaveLength(before + 1);
      expect(Math.max(...msgs.map((m) => m.visibleAt.getTime()))).toBeGreaterThan(Date.now() + 50_000);
    });

    it('release: PENDING with the attempt given back, no new message', async () => {
      const lease = await running();
      const before = (await messages(lease.jobId)).length;
      expect(await store.release(lease, [])).toBe(true);
      expect(await row(lease.jobId)).toMatchObject({ status: 'PENDING', attempts: 0, leaseToken: null });
      expect(await messages(lease.jobId)).toHaveLength(before);
    });

    it('cancelled: CANCELLED with the last lines', async () => {
      const lease = await running();
      await store.requestCancel(lease.jobId, 'alice');
      expect(await store.cancelled(lease, [line('warn', 'stopped: the job was cancelled')])).toBe(true);
      expect(await row(lease.jobId)).toMatchObject({ status: 'CANCELLED', leaseToken: null });
      expect((await logs(lease.jobId)).map(([, , m]) => m)).toEqual([
        'cancel requested by alice; stopping the handler',
        'stopped: the job was cancelled',
      ]);
    });

    it.each(['complete', 'fail', 'giveUp', 'requeue', 'release', 'cancelled', 'progress'] as const)(
      '%s by a stale attempt changes nothing',
      async (transition) => {
        const stale = await running();
        await expire(stale.jobId);
        const current = (await store.claim(stale.jobId, randomUUID(), 30))!;
        const before = await row(stale.jobId);
        const write = {
          complete: () => store.complete(stale, { result: 1 }, []),
          fail: () => store.fail(stale, { error: 'x' }, []),
          giveUp: () => store.giveUp(stale, { reason: 'x' }, []),
          requeue: () => store.requeue(stale, { error: 'x', delaySeconds: 0 }, []),
          release: () => store.release(stale, []),
          cancelled: () => store.cancelled(stale, []),
          progress: () => store.progress(stale, { done: 1, total: 2 }),
        }[transition];
        expect(await write()).toBe(false);
        expect(await row(stale.jobId)).toEqual(before);
        expect(before.leaseToken).toBe(current.lease.token);
      },
    );
  });

  describe('cancel', () => {
    it('ends a PENDING job at once, with a log line', async () => {
      const id = await created();
      expect(await store.requestCancel(id, 'alice')).toEqual({ kind: 'cancelled', wasRunning: false });
      expect((await row(id)).status).toBe('CANCELLED');
      expect((await logs(id)).map(([, , m]) => m)).toEqual(['cancelled by alice before it started']);
    });

    it('asks a running attempt to stop: still RUNNING, cancel_requested_at set', async () => {
      const lease = await running();
      expect(await store.requestCancel(lease.jobId, 'alice')).toEqual({ kind: 'requested' });
      const job = await row(lease.jobId);
      expect(job.status).toBe('RUNNING');
      expect(job.cancelRequestedAt).not.toBeNull();
      expect(job.leaseToken).toBe(lease.token);
    });

    it('ends a RUNNING job nobody holds (lease expired) at once', async () => {
      const lease = await running();
      await expire(lease.jobId);
      expect(await store.requestCancel(lease.jobId, 'alice')).toEqual({
        kind: 'cancelled',
        wasRunning: true,
      });
      expect(await row(lease.jobId)).toMatchObject({ status: 'CANCELLED', leaseToken: null });
      expect(await store.cancelled(lease, [])).toBe(false); // the old attempt writes nothing
    });

    it('refuses a finished job', async () => {
      const lease = await running();
      await store.complete(lease, { result: null }, []);
      expect(await store.requestCancel(lease.jobId, 'alice')).toEqual({ kind: 'not-cancellable' });
    });

    it('a claim of an expired attempt whose cancel was requested tells the processor so', async () => {
      const lease = await running();
      await store.requestCancel(lease.jobId, 'alice');
      await expire(lease.jobId);
      const again = await store.claim(lease.jobId, randomUUID(), 30);
      expect(again?.job).toMatchObject({ prevStatus: 'RUNNING', cancelRequested: true });
    });
  });

  describe('retry and redrive', () => {
    it('retry: a FAILED or CANCELLED job back to PENDING with fresh attempts and a message', async () => {
      const lease = await running();
      await store.giveUp(lease, { reason: 'x' }, []);
      const msgsBefore = (await messages(lease.jobId)).length;
      expect(await store.retry(lease.jobId)).toBe(true);
      expect(await row(lease.jobId)).toMatchObject({
        status: 'PENDING',
        attempts: 0,
        error: null,
        result: null,
        deadLetteredAt: null,
        cancelRequestedAt: null,
        startedAt: null,
        finishedAt: null,
      });
      expect(await messages(lease.jobId)).toHaveLength(msgsBefore + 1);
      expect(await store.retry(lease.jobId)).toBe(false); // PENDING: nothing to retry
    });

    it('redrive: every dead-lettered job (or the ones named) back in line, with a log line', async () => {
      const dead: string[] = [];
      for (let i = 0; i < 3; i++) {
        const lease = await running();
        await store.giveUp(lease, { reason: 'x' }, []);
        dead.push(lease.jobId);
      }
      const failedOnly = await running();
      await store.fail(failedOnly, { error: 'not a dead letter' }, []);

      expect(await store.redrive('root', [dead[0]])).toEqual([dead[0]]);
      expect((await store.redrive('root')).sort()).toEqual([dead[1], dead[2]].sort());
      for (const id of dead) {
        expect((await row(id)).status).toBe('PENDING');
        expect((await logs(id)).map(([, , m]) => m)).toContain(
          'redriven from the dead letters by root; attempts start over',
        );
      }
      expect((await row(failedOnly.jobId)).status).toBe('FAILED');
      expect(await store.redrive('root')).toEqual([]);
    });
  });

  describe('reap', () => {
    it('requeues, gives up on, or cancels long-expired attempts, each with a log line', async () => {
      const requeue = await running();
      const giveUp = await running({ maxAttempts: 1 });
      const cancel = await running();
      await store.requestCancel(cancel.jobId, 'alice');
      const fresh = await running();
      for (const l of [requeue, giveUp, cancel]) await expire(l.jobId, 120);
      await expire(fresh.jobId, 1); // expired, but within the grace

      const reaped = await store.reap(60, 100);
      expect(reaped).toEqual({
        requeued: [requeue.jobId],
        failed: [giveUp.jobId],
        cancelled: [cancel.jobId],
      });
      expect(await row(requeue.jobId)).toMatchObject({ status: 'PENDING', attempts: 1 });
      expect(await row(giveUp.jobId)).toMatchObject({ status: 'FAILED' });
      expect((await row(giveUp.jobId)).deadLetteredAt).not.toBeNull();
      expect((await row(cancel.jobId)).status).toBe('CANCELLED');
      expect((await row(fresh.jobId)).status).toBe('RUNNING');
      expect((await logs(requeue.jobId)).at(-1)?.[2]).toMatch(/^lease of attempt 1 expired/);
      // The old attempts write nothing any more.
      for (const l of [requeue, giveUp, cancel])
        expect(await store.complete(l, { result: 1 }, [])).toBe(false);
    });
  });

  it('expireAllLeases makes every RUNNING job claimable at once (embedded start-up)', async () => {
    const lease = await running();
    expect(await store.expireAllLeases()).toBe(1);
    expect((await store.claim(lease.jobId, randomUUID(), 30))?.job.prevStatus).toBe('RUNNING');
  });
});
