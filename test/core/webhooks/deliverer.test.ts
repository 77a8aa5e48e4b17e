import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from '@jest/globals';
import { pino } from 'pino';
import { FsBlobStore } from '../../../core/blobs/fs-blob-store.js';
import { toJobDto } from '../../../core/jobs/job-dto.js';
import { JobStore } from '../../../core/jobs/job-store.js';
import { RetentionService } from '../../../core/jobs/retention.js';
import { DbQueue } from '../../../core/queue/db-queue.js';
import {
  DELIVERY_WINDOW_MS,
  WebhookDeliverer,
  type DelivererOptions,
} from '../../../core/webhooks/deliverer.js';
import { ensureSettings } from '../../../core/webhooks/settings.js';
import { verifySignature } from '../../../core/webhooks/signature.js';
import { dbKinds, openTestDatabase, type TestDatabase } from '../../helpers/db.js';
import { startReceiver, type TestReceiver } from './receiver.js';

const HOUR_MS = 3_600_000;

/**
 * The deliverer against a real receiver on loopback (with the allowance), on PGlite and
 * PostgreSQL: jobs end through the job store's real end statements, which write the deliveries;
 * time moves by a fake clock, never by sleeping.
 */
describe.each(dbKinds())('webhook deliveries on %s', (kind) => {
  let t: TestDatabase;
  let queue: DbQueue;
  let store: JobStore;
  let receiver: TestReceiver;
  let now: number;
  const clock = () => new Date(now);
  const ownerId = randomUUID();
  const logger = pino({ level: 'silent' });

  const deliverer = (o: Partial<DelivererOptions> = {}) =>
    new WebhookDeliverer({ prisma: t.db.prisma, logger, allowPrivate: true, clock, timeoutMs: 5_000, ...o });

  /** A job of `ownerId` with this webhook, created and claimed: its attempt's lease. */
  async function runningJob(webhookUrl: string | null | undefined, o: { maxAttempts?: number } = {}) {
    const id = randomUUID();
    await store.create(
      {
        id,
        type: 'noop',
        params: {},
        ownerId,
        maxAttempts: o.maxAttempts ?? 3,
        idempotencyKey: null,
        input: null,
        webhookUrl: webhookUrl ?? undefined,
      },
      { idempotencyTtlMs: 1000 },
    );
    const attempt = await store.claim(id, randomUUID(), 30);
    return attempt!.lease;
  }

  async function completedJob(webhookUrl: string | null | undefined) {
    const lease = await runningJob(webhookUrl);
    expect(await store.complete(lease, { result: { ok: true } }, [])).toBe(true);
    catchUp();
    return lease.jobId;
  }

  /**
   * The fake clock to a second past the real one: the end statements date deliveries with the
   * database's now() (kept to milliseconds, possibly rounded up).
   */
  function catchUp() {
    now = Math.max(now, Date.now() + 1_000);
  }

  const deliveriesOf = (jobId: string) =>
    t.db.prisma.webhookDelivery.findMany({
      where: { jobId },
      include: { tries: { orderBy: { n: 'asc' } } },
      orderBy: { createdAt: 'asc' },
    });

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
    receiver = await startReceiver();
    now = Date.now();
  });
  afterEach(async () => {
    await receiver.close();
  });

  it('POSTs the job as GET /api/jobs/:id shows it, signed with the owner secret', async () => {
    const jobId = await completedJob(receiver.url);
    const [pending] = await deliveriesOf(jobId);
    expect(pending).toMatchObject({
      event: 'job.completed',
      url: receiver.url,
      state: 'pending',
      attempts: 0,
    });

    expect(await deliverer().deliverDue()).toBe(1);
    const [req] = receiver.got;
    const job = await t.db.prisma.job.findUniqueOrThrow({ where: { id: jobId } });
    expect(JSON.parse(req.body)).toEqual(JSON.parse(JSON.stringify(toJobDto(job))));
    expect(JSON.parse(req.body)).toMatchObject({ status: 'COMPLETED', webhookUrl: receiver.url });
    expect(req.headers['content-type']).toBe('application/json');
    expect(req.headers['jobs-event']).toBe('job.completed');
    expect(req.headers['jobs-delivery']).toBe(pending.id);
    const { secret } = (await ensureSettings(t.db.prisma, [ownerId])).get(ownerId)!;
    expect(secret).toMatch(/^whsec_/);
    const header = String(req.headers['jobs-signature']);
    expect(header).toMatch(/^t=\d+,v1=[0-9a-f]{64}$/);
    expect(verifySignature(secret, header, req.body)).toBe(true);
    expect(verifySignature('whsec_wrong', header, req.body)).toBe(false);

    const [done] = await deliveriesOf(jobId);
    expect(done).toMatchObject({ state: 'delivered', attempts: 1 });
    expect(done.finishedAt).not.toBeNull();
    expect(done.tries).toHaveLength(1);
    expect(done.tries[0]).toMatchObject({ n: 1, statusCode: 200, error: null });
    // Nothing is due any more.
    expect(await deliverer().deliverDue()).toBe(0);
  });

  it('retries after 500s, with growing delays, until a 2xx; every retry is the same delivery and body', async () => {
    receiver.statuses.splice(0, 1, 500, 502, 500, 200);
    const jobId = await completedJob(receiver.url);
    const d = deliverer({ random: () => 0.5 });
    const gaps: number[] = [];
    for (let i = 0; i < 4; i++) {
      expect(await d.deliverDue()).toBe(1);
      const [row] = await deliveriesOf(jobId);
      if (row.state === 'delivered') break;
      // Not due before its time...
      expect(await d.deliverDue()).toBe(0);
      gaps.push(row.nextAttemptAt.getTime() - now);
      now = row.nextAttemptAt.getTime(); // ...and due then.
    }
    const [row] = await deliveriesOf(jobId);
    expect(row).toMatchObject({ state: 'delivered', attempts: 4 });
    expect(row.tries.map((a) => a.statusCode)).toEqual([500, 502, 500, 200]);
    expect(row.tries[0].error).toMatch(/^HTTP 500: nope 500/);
    // Exponential: 30 s, 60 s, 120 s (jitter fixed at its middle: three quarters of each).
    expect(gaps).toEqual([22_500, 45_000, 90_000]);
    expect(new Set(receiver.got.map((g) => g.headers['jobs-delivery']))).toEqual(new Set([row.id]));
    expect(new Set(receiver.got.map((g) => g.body)).size).toBe(1);
  });

  it('gives up a day after the job ended, having retried with backoff until then', async () => {
    receiver.statuses.splice(0, 1, 503);
    const jobId = await completedJob(receiver.url);
    const d = deliverer();
    let rounds = 0;
    for (;;) {
      expect(await d.deliverDue()).toBe(1);
      const [row] = await deliveriesOf(jobId);
      if (row.state !== 'pending') break;
      now = row.nextAttemptAt.getTime();
      expect(++rounds).toBeLessThan(100);
    }
    const [row] = await deliveriesOf(jobId);
    expect(row.state).toBe('failed');
    expect(row.finishedAt).not.toBeNull();
    // The last attempt was made at the end of the window, not before it and not long after.
    const last = row.tries.at(-1)!;
    expect(last.at.getTime() - row.createdAt.getTime()).toBeGreaterThanOrEqual(DELIVERY_WINDOW_MS);
    expect(last.at.getTime() - row.createdAt.getTime()).toBeLessThan(DELIVERY_WINDOW_MS + HOUR_MS);
    expect(row.tries.every((a) => a.statusCode === 503)).toBe(true);
    // Backoff capped at an hour: a day is a few dozen attempts, not thousands.
    expect(row.attempts).toBeGreaterThan(20);
    expect(row.attempts).toBeLessThan(60);
    expect(receiver.got).toHaveLength(row.attempts);
    now += 7 * 24 * HOUR_MS;
    expect(await d.deliverDue()).toBe(0);
  });

  it('every end of a job with a webhook writes its delivery; a job without one writes none', async () => {
    const failed = await runningJob(receiver.url);
    await store.fail(failed, { error: 'bad row' }, []);
    const cancelled = await runningJob(receiver.url);
    await store.cancelled(cancelled, []);
    const given = await runningJob(receiver.url, { maxAttempts: 1 });
    await store.giveUp(given, { reason: 'gave up' }, []);
    const pendingId = randomUUID();
    await store.create(
      {
        id: pendingId,
        type: 'noop',
        params: {},
        ownerId,
        maxAttempts: 3,
        idempotencyKey: null,
        input: null,
        webhookUrl: receiver.url,
      },
      { idempotencyTtlMs: 1000 },
    );
    expect(await store.requestCancel(pendingId, 'owner')).toMatchObject({ kind: 'cancelled' });
    // A cancel request on a running job is no end: no delivery yet.
    const running = await runningJob(receiver.url);
    expect(await store.requestCancel(running.jobId, 'owner')).toMatchObject({ kind: 'requested' });
    const plain = await completedJob(null);

    const events = async (id: string) => (await deliveriesOf(id)).map((d) => d.event);
    expect(await events(failed.jobId)).toEqual(['job.failed']);
    expect(await events(cancelled.jobId)).toEqual(['job.cancelled']);
    expect(await events(given.jobId)).toEqual(['job.dead_lettered']);
    expect(await events(pendingId)).toEqual(['job.cancelled']);
    expect(await events(running.jobId)).toEqual([]);
    expect(await events(plain)).toEqual([]);

    catchUp();
    expect(await deliverer().deliverDue()).toBe(4);
    expect(receiver.got.map((g) => JSON.parse(g.body).status).sort()).toEqual([
      'CANCELLED',
      'CANCELLED',
      'FAILED',
      'FAILED',
    ]);
  });

  it("a job without its own webhook gets its owner's default at submit", async () => {
    await ensureSettings(t.db.prisma, [ownerId]);
    await t.db.prisma.webhookSettings.update({
      where: { userId: ownerId },
      data: { defaultUrl: receiver.url },
    });
    const jobId = await completedJob(undefined);
    expect((await t.db.prisma.job.findUniqueOrThrow({ where: { id: jobId } })).webhookUrl).toBe(receiver.url);
    expect((await deliveriesOf(jobId)).map((d) => d.event)).toEqual(['job.completed']);
  });

  it('refuses at delivery a name that resolves to a private address (DNS rebinding), without the allowance', async () => {
    // Passes the submit check (a name is not resolved then), then resolves to loopback.
    const url = `http://hooks.example.test:${receiver.port}/hooks/jobs`;
    const jobId = await completedJob(url);
    const resolve = async () => [{ address: '127.0.0.1', family: 4 }];
    expect(await deliverer({ allowPrivate: false, resolve }).deliverDue()).toBe(1);
    const [row] = await deliveriesOf(jobId);
    expect(row).toMatchObject({ state: 'pending', attempts: 1 });
    expect(row.tries[0]).toMatchObject({
      statusCode: null,
      error: 'refused: hooks.example.test resolves to a private address (127.0.0.1)',
    });
    expect(receiver.got).toHaveLength(0);

    // With the allowance, the connection goes to the address that was checked (the name has no
    // real DNS record: only the pinned address can reach the receiver).
    now = row.nextAttemptAt.getTime();
    expect(await deliverer({ allowPrivate: true, resolve }).deliverDue()).toBe(1);
    expect(receiver.got).toHaveLength(1);
    expect(receiver.got[0].headers.host).toBe(`hooks.example.test:${receiver.port}`);
    expect((await deliveriesOf(jobId))[0].state).toBe('delivered');
  });

  it('records an unreachable receiver as an attempt without a status, and retries it', async () => {
    const port = receiver.port;
    await receiver.close();
    const jobId = await completedJob(`http://127.0.0.1:${port}/gone`);
    expect(await deliverer().deliverDue()).toBe(1);
    const [row] = await deliveriesOf(jobId);
    expect(row).toMatchObject({ state: 'pending', attempts: 1 });
    expect(row.tries[0].statusCode).toBeNull();
    expect(row.tries[0].error).toMatch(/ECONNREFUSED/);
    receiver = await startReceiver(); // for afterEach
  });

  it('a claim whose process died lapses: the delivery is due again, once', async () => {
    const jobId = await completedJob(receiver.url);
    // Claim it as a deliverer would, then "die" before the POST.
    await t.db.prisma.webhookDelivery.updateMany({
      where: { jobId },
      data: { nextAttemptAt: new Date(now + 25_000) },
    });
    expect(await deliverer().deliverDue()).toBe(0);
    now += 25_000;
    expect(await deliverer().deliverDue()).toBe(1);
    expect((await deliveriesOf(jobId))[0].state).toBe('delivered');
  });

  it('retention deletes a job’s deliveries and their attempts with the job', async () => {
    const jobId = await completedJob(receiver.url);
    await deliverer().deliverDue();
    const blobDir = fs.mkdtempSync(path.join(os.tmpdir(), 'jobs-webhooks-'));
    try {
      const retention = new RetentionService({ store, blobs: new FsBlobStore(blobDir), logger });
      const r = await retention.prune({ olderThanMs: -60_000 });
      expect(r.jobs).toBe(1);
      expect(await t.db.prisma.job.count({ where: { id: jobId } })).toBe(0);
      expect(await t.db.prisma.webhookDelivery.count()).toBe(0);
      expect(await t.db.prisma.webhookAttempt.count()).toBe(0);
    } finally {
      fs.rmSync(blobDir, { recursive: true, force: true });
    }
  });
});
