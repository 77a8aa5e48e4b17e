import { randomUUID } from 'node:crypto';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from '@jest/globals';
import { pino } from 'pino';
import { Reaper } from '../../processor/reaper.js';
import { runCli } from '../cli/helpers/run-cli.js';
import { api, filesUnder, startTestServer, waitForJob, type TestServer } from '../helpers/api-server.js';
import { until } from '../helpers/counting.js';
import { dbKinds } from '../helpers/db.js';
import { createLatch } from '../helpers/latch.js';

const csv = 'id,name\n1,ada\n2,grace\n';

function form(fields: Record<string, string>, file?: { name: string; data: string }): FormData {
  const f = new FormData();
  for (const [k, v] of Object.entries(fields)) f.append(k, v);
  if (file) f.append('file', new Blob([file.data]), file.name);
  return f;
}

/**
 * maxAttempts per job, Idempotency-Key kept 24 h, cancel reaching a running handler within 2 s,
 * retry, and the dead letters (REST and `jobs dlq`), over real HTTP with the real processor.
 */
describe.each(dbKinds())('reliability API on %s', (kind) => {
  let s: TestServer;
  let admin: string;
  let alice: string;
  const latch = createLatch();

  beforeAll(async () => {
    s = await startTestServer(kind, { maxUploadBytes: 64 * 1024, handlers: [latch.handler] });
  });
  afterAll(async () => {
    await s.close();
  });
  afterEach(async () => {
    await s.stopWorker();
  });
  beforeEach(async () => {
    await s.reset();
    latch.reset();
    admin = await s.token('root', { admin: true });
    alice = await s.token('alice');
  });

  const jobs = (token: string, body: unknown, headers: Record<string, string> = {}) =>
    api(s.url, token, 'POST', '/api/jobs', body, headers);

  async function logLines(id: string): Promise<string[]> {
    return (await api(s.url, admin, 'GET', `/api/jobs/${id}/logs`)).body.items.map(
      (l: { message: string }) => l.message,
    );
  }

  describe('maxAttempts per job', () => {
    it('takes the type default, or the JSON body and multipart overrides', async () => {
      expect((await jobs(alice, { type: 'noop' })).body.maxAttempts).toBe(3);
      const json = await jobs(alice, { type: 'noop', maxAttempts: 7 });
      expect(json.status).toBe(201);
      expect(json.body.maxAttempts).toBe(7);
      const multipart = await jobs(alice, form({ type: 'noop', maxAttempts: '1' }));
      expect(multipart.status).toBe(201);
      expect(multipart.body.maxAttempts).toBe(1);
    });

    it.each([0, 21, 2.5, '3', null])('refuses maxAttempts %p in JSON with a 400 naming it', async (v) => {
      const res = await jobs(alice, { type: 'noop', maxAttempts: v });
      expect(res.status).toBe(400);
      expect(res.body.error.message).toMatch(
        /^maxAttempts: maxAttempts must be a whole number from 1 to 20$/,
      );
    });

    it.each(['0', '21', 'x', '2.5', ' 3', ''])(
      'refuses the multipart field %p with a 400, keeping no upload',
      async (v) => {
        const res = await jobs(
          alice,
          form({ type: 'csv-import', maxAttempts: v }, { name: 'a.csv', data: csv }),
        );
        expect(res.status).toBe(400);
        expect(res.body.error.message).toMatch(/maxAttempts must be a whole number from 1 to 20/);
        expect(filesUnder(s.blobsDir)).toEqual([]);
        expect((await api(s.url, admin, 'GET', '/api/jobs?all=true')).body.items).toEqual([]);
      },
    );
  });

  describe('Idempotency-Key', () => {
    it('returns the same job within 24 h without keeping the upload; after 24 h the key is free', async () => {
      const headers = { 'idempotency-key': 'nightly-2026-11-28' };
      const first = await jobs(alice, form({ type: 'csv-import' }, { name: 'a.csv', data: csv }), headers);
      expect(first.status).toBe(201);
      expect(filesUnder(s.blobsDir)).toHaveLength(1);
      const retried = () => jobs(alice, form({ type: 'csv-import' }, { name: 'a.csv', data: csv }), headers);
      const again = await retried();
      expect(again.status).toBe(200);
      expect(again.body.id).toBe(first.body.id);
      expect(filesUnder(s.blobsDir)).toHaveLength(1);
      // JSON submissions share the key space: another request with the key is a conflict.
      const other = await jobs(alice, { type: 'noop' }, headers);
      expect([other.status, other.body.error.code]).toEqual([422, 'idempotency_conflict']);

      // 23 h later: still the same job.
      await s.t.db.prisma.$executeRaw`
        UPDATE jobs SET created_at = now() - interval '23 hours' WHERE id = ${first.body.id}::uuid`;
      expect((await retried()).status).toBe(200);

      // 24 h and a minute later: the key makes a new job, and its upload is kept.
      await s.t.db.prisma.$executeRaw`
        UPDATE jobs SET created_at = now() - interval '24 hours 1 minute' WHERE id = ${first.body.id}::uuid`;
      const fresh = await jobs(alice, form({ type: 'csv-import' }, { name: 'c.csv', data: csv }), headers);
      expect(fresh.status).toBe(201);
      expect(fresh.body.id).not.toBe(first.body.id);
      expect(filesUnder(s.blobsDir)).toHaveLength(2);
      // ... and from then on returns the new job.
      const after = await jobs(alice, form({ type: 'csv-import' }, { name: 'c.csv', data: csv }), headers);
      expect([after.status, after.body.id]).toEqual([200, fresh.body.id]);
      expect(filesUnder(s.blobsDir)).toHaveLength(2);
      // The old job is still there, only without the key.
      expect((await api(s.url, alice, 'GET', `/api/jobs/${first.body.id}`)).status).toBe(200);
    });
  });

  describe('cancel and retry', () => {
    it('cancels a PENDING job (it never runs), refuses a finished one (409), retries it', async () => {
      // No worker yet: the job stays PENDING.
      const { body } = await jobs(alice, { type: 'noop', params: { logLines: 1 } });
      const cancelled = await api(s.url, alice, 'POST', `/api/jobs/${body.id}/cancel`);
      expect([cancelled.status, cancelled.body.status]).toEqual([200, 'CANCELLED']);
      const again = await api(s.url, alice, 'POST', `/api/jobs/${body.id}/cancel`);
      expect(again.status).toBe(409);
      expect(again.body.error).toMatchObject({ code: 'conflict' });
      // Only FAILED or CANCELLED jobs can be retried.
      const running = await jobs(alice, { type: 'noop' });
      expect((await api(s.url, alice, 'POST', `/api/jobs/${running.body.id}/retry`)).status).toBe(409);

      s.startWorker();
      expect((await waitForJob(s.url, alice, running.body.id)).status).toBe('COMPLETED');
      expect((await api(s.url, alice, 'POST', `/api/jobs/${running.body.id}/cancel`)).status).toBe(409);
      expect((await api(s.url, alice, 'POST', `/api/jobs/${running.body.id}/retry`)).status).toBe(409);
      // The cancelled job's message was acknowledged without running it.
      await until(
        'its message acknowledged',
        () => s.t.db.prisma.queueMessage.count({ where: { jobId: body.id } }),
        (n) => n === 0,
      );
      expect((await api(s.url, alice, 'GET', `/api/jobs/${body.id}`)).body).toMatchObject({
        status: 'CANCELLED',
        attempts: 0,
      });
      expect(await logLines(body.id)).not.toContain('line 1 of 1');

      const retried = await api(s.url, alice, 'POST', `/api/jobs/${body.id}/retry`);
      expect(retried.status).toBe(200);
      expect(await waitForJob(s.url, alice, body.id)).toMatchObject({ status: 'COMPLETED', attempts: 1 });
      expect(await logLines(body.id)).toContain('line 1 of 1');
    });

    it('cancel of a running job stops its handler within 2 s (criterion 6)', async () => {
      s.startWorker();
      const { body } = await jobs(alice, { type: 'latch' });
      // The handler is running (waiting on its latch): the cancel lands mid-run.
      await latch.started(body.id);
      const t0 = Date.now();
      const res = await api(s.url, alice, 'POST', `/api/jobs/${body.id}/cancel`);
      // The route answers once the processor wrote CANCELLED (the handler's real end).
      const cancelledMs = Date.now() - t0;
      expect([res.status, res.body.status]).toEqual([200, 'CANCELLED']);
      // The handler saw its AbortSignal (it was never released) and stopped before that answer.
      const end = await latch.ended(body.id);
      expect(end.how).toBe('aborted');
      const stoppedMs = end.endedAt - t0;
      process.stderr.write(
        `[figure] ${kind}: cancel → handler stopped in ${stoppedMs} ms, CANCELLED in ${cancelledMs} ms\n`,
      );
      // The contract's "CANCELLED within 2 s", from the request to the answer saying CANCELLED.
      expect(stoppedMs).toBeLessThanOrEqual(cancelledMs);
      expect(cancelledMs).toBeLessThan(2_000);
      // run-job logs it as it stops.
      expect(await logLines(body.id)).toContain('stopped: the job was cancelled');

      const job = (await api(s.url, alice, 'GET', `/api/jobs/${body.id}`)).body;
      expect(job.status).toBe('CANCELLED');
      const lines = await logLines(body.id);
      expect(lines.some((l) => l.startsWith('completed in'))).toBe(false);
      // And it stays stopped: its message was acknowledged, so nothing can run it again; it ran
      // once, and a release now finds no handler waiting.
      await until(
        'its message acknowledged',
        () => s.t.db.prisma.queueMessage.count({ where: { jobId: body.id } }),
        (n) => n === 0,
      );
      latch.release(body.id);
      const later = (await api(s.url, alice, 'GET', `/api/jobs/${body.id}`)).body;
      expect([later.status, later.progress.done]).toEqual(['CANCELLED', job.progress.done]);
      expect(latch.runs.filter((r) => r.jobId === body.id)).toHaveLength(1);
    });
  });

  describe('dead letters', () => {
    /** A job given up on for real: left RUNNING by a dead worker, found by the reaper. */
    async function deadLettered(): Promise<string> {
      const { body } = await jobs(alice, { type: 'noop', params: { logLines: 2 }, maxAttempts: 2 });
      // Its worker claimed it twice and died each time; the message is gone.
      await s.t.db.prisma.queueMessage.deleteMany({ where: { jobId: body.id } });
      await s.t.db.prisma.job.update({
        where: { id: body.id },
        data: {
          status: 'RUNNING',
          attempts: 2,
          leaseToken: randomUUID(),
          leaseExpiresAt: new Date(Date.now() - 60_000),
        },
      });
      const reaper = new Reaper({
        store: s.store,
        logger: pino({ level: 'silent' }),
        leaseSeconds: 1,
      });
      expect((await reaper.sweep()).failed).toEqual([body.id]);
      return body.id;
    }

    it('are admin-only (403 for a user)', async () => {
      expect((await api(s.url, alice, 'GET', '/api/dlq')).status).toBe(403);
      const res = await api(s.url, alice, 'POST', '/api/dlq/redrive', {});
      expect(res.status).toBe(403);
      expect(res.body.error.code).toBe('forbidden');
      expect((await api(s.url, undefined, 'GET', '/api/dlq')).status).toBe(401);
    });

    it('lists dead-lettered jobs and redrives them: they run again', async () => {
      const id = await deadLettered();
      const ok = await jobs(alice, { type: 'noop' });
      // A dead-letter row of the queue whose job is still PENDING (its receives ran out).
      const stuck = (await jobs(alice, { type: 'noop', params: { logLines: 1 } })).body.id;
      await s.t.db.prisma.queueMessage.updateMany({
        where: { jobId: stuck },
        data: { deadLetteredAt: new Date(), receiveCount: 5 },
      });

      const list = await api(s.url, admin, 'GET', '/api/dlq');
      expect(list.status).toBe(200);
      expect(list.body.total).toBe(1);
      expect(list.body.queueDeadLetters).toBe(1);
      expect(list.body.items).toEqual([
        expect.objectContaining({
          id,
          status: 'FAILED',
          attempts: 2,
          maxAttempts: 2,
          error: 'gave up after 2 attempts: the worker stopped (crashed or was killed) during each of them',
          deadLetteredAt: expect.any(String),
        }),
      ]);
      expect(list.body.items.map((j: { id: string }) => j.id)).not.toContain(ok.body.id);

      // The CLI shows the same, as a table and as JSON.
      const env = { JOBS_API_URL: s.url, JOBS_TOKEN: admin };
      const table = await runCli(['dlq', 'list'], { env });
      expect(table.code).toBe(0);
      expect(table.stdout).toContain(id);
      expect(table.stdout).toContain('2/2');
      const asJson = await runCli(['dlq', 'list', '--json'], { env });
      expect(JSON.parse(asJson.stdout)).toMatchObject({ total: 1, items: [{ id }] });
      const denied = await runCli(['dlq', 'list'], { env: { JOBS_API_URL: s.url, JOBS_TOKEN: alice } });
      expect(denied.code).toBe(1);
      expect(denied.stderr.trim()).toBe(
        'seeing and redriving dead letters needs the dlq:Manage permission, which this token lacks',
      );

      const redrive = await runCli(['dlq', 'redrive', '--json'], { env });
      expect(redrive.code).toBe(0);
      expect(JSON.parse(redrive.stdout)).toEqual({ requeued: [id], movedMessages: 1, droppedMessages: 0 });
      const after = (await api(s.url, admin, 'GET', `/api/jobs/${id}`)).body;
      expect(after).toMatchObject({ status: 'PENDING', attempts: 0, error: null });

      s.startWorker();
      expect(await waitForJob(s.url, alice, id)).toMatchObject({ status: 'COMPLETED', attempts: 1 });
      expect(await waitForJob(s.url, alice, stuck)).toMatchObject({ status: 'COMPLETED', attempts: 1 });
      const lines = await logLines(id);
      expect(lines).toContain('redriven from the dead letters by root; attempts start over');
      expect(lines.filter((l) => l.startsWith('completed in'))).toHaveLength(1);
      expect((await api(s.url, admin, 'GET', '/api/dlq')).body).toMatchObject({
        items: [],
        total: 0,
        queueDeadLetters: 0,
      });
      // Every message was acknowledged: none left behind, dead or alive.
      await until(
        'every message acknowledged',
        () => s.t.db.prisma.queueMessage.count(),
        (n) => n === 0,
      );
    });

    it('redrives only the given ids, and validates them', async () => {
      const a = await deadLettered();
      const b = await deadLettered();
      const res = await api(s.url, admin, 'POST', '/api/dlq/redrive', { ids: [b] });
      expect(res.body).toEqual({ requeued: [b], movedMessages: 0, droppedMessages: 0 });
      expect(
        (await api(s.url, admin, 'GET', '/api/dlq')).body.items.map((j: { id: string }) => j.id),
      ).toEqual([a]);
      const bad = await api(s.url, admin, 'POST', '/api/dlq/redrive', { ids: ['nope'] });
      expect(bad.status).toBe(400);
      expect(bad.body.error.message).toBe('ids.0: ids must be job ids (uuids)');
    });
  });
});
