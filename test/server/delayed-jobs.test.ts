import { afterAll, beforeAll, beforeEach, describe, expect, it } from '@jest/globals';
import { api, startTestServer, type TestServer } from '../helpers/api-server.js';
import { until } from '../helpers/counting.js';
import { dbKinds } from '../helpers/db.js';

/**
 * Delayed jobs (`delay` / `runAt` on POST /api/jobs, multipart and batch items), with the real
 * worker: a job never starts before its runAt, waits PENDING meanwhile without holding up other
 * jobs, and can be cancelled.
 */
describe.each(dbKinds())('delayed jobs on %s', (kind) => {
  let s: TestServer;
  let alice: string;

  beforeAll(async () => {
    s = await startTestServer(kind);
    s.startWorker();
  });
  afterAll(async () => {
    await s.close();
  });
  beforeEach(async () => {
    alice = await s.token(`alice-${Math.random()}`);
  });

  const get = async (id: string) => (await api(s.url, alice, 'GET', `/api/jobs/${id}`)).body;
  const ended = (id: string) =>
    until(
      `job ${id} to end`,
      () => get(id),
      (j) => ['COMPLETED', 'FAILED', 'CANCELLED'].includes(j.status),
    );

  it('starts a job no sooner than its delay, and shows runAt', async () => {
    const before = Date.now();
    const res = await api(s.url, alice, 'POST', '/api/jobs', { type: 'noop', delay: '2s' });
    expect(res.status).toBe(201);
    const runAt = Date.parse(res.body.runAt);
    expect(runAt).toBeGreaterThanOrEqual(before + 2000);
    const job = await ended(res.body.id);
    expect(job.status).toBe('COMPLETED');
    expect(Date.parse(job.startedAt)).toBeGreaterThanOrEqual(runAt);
  });

  it('keeps a job PENDING until its runAt while later jobs run, and cancels it at once', async () => {
    const later = new Date(Date.now() + 3_600_000).toISOString();
    const delayed = await api(s.url, alice, 'POST', '/api/jobs', { type: 'noop', runAt: later });
    expect([delayed.status, delayed.body.runAt]).toEqual([201, later]);
    const now = await api(s.url, alice, 'POST', '/api/jobs', { type: 'noop' });
    expect((await ended(now.body.id)).status).toBe('COMPLETED');
    expect(await get(delayed.body.id)).toMatchObject({ status: 'PENDING', attempts: 0, startedAt: null });
    const cancelled = await api(s.url, alice, 'POST', `/api/jobs/${delayed.body.id}/cancel`);
    expect([cancelled.status, cancelled.body.status]).toEqual([200, 'CANCELLED']);
  });

  it('takes delay and runAt in a multipart upload and in batch items', async () => {
    const form = new FormData();
    form.set('type', 'csv-import');
    form.set('delay', '1h');
    form.set('file', new Blob(['a,b\n1,2\n']), 'in.csv');
    const up = await api(s.url, alice, 'POST', '/api/jobs', form);
    expect(up.status).toBe(201);
    expect(Date.parse(up.body.runAt) - Date.now()).toBeGreaterThan(3_500_000);

    const batch = await api(s.url, alice, 'POST', '/api/jobs/batch', {
      jobs: [{ type: 'noop', delay: '10m' }, { type: 'noop' }, { type: 'noop', delay: 'soon' }],
    });
    expect(batch.status).toBe(200);
    const [a, b, c] = batch.body.results;
    expect(Date.parse(a.job.runAt) - Date.now()).toBeGreaterThan(590_000);
    expect(b.job.runAt).toBeNull();
    expect(c.error).toMatchObject({
      code: 'validation_failed',
      message: expect.stringMatching(/^delay must be/),
    });
    expect((await ended(b.job.id)).status).toBe('COMPLETED');
    expect((await get(a.job.id)).status).toBe('PENDING');
  });

  it('refuses delay and runAt together, bad values and a multipart field before storing the file', async () => {
    for (const body of [
      { type: 'noop', delay: '1m', runAt: '2030-01-01T00:00:00Z' },
      { type: 'noop', delay: 'ten minutes' },
      { type: 'noop', runAt: '2026-12-01 10:00' },
      { type: 'noop', delay: 5 },
    ]) {
      const res = await api(s.url, alice, 'POST', '/api/jobs', body);
      expect([JSON.stringify(body), res.status, res.body.error.code]).toEqual([
        JSON.stringify(body),
        400,
        'validation_failed',
      ]);
    }
    const form = new FormData();
    form.set('type', 'csv-import');
    form.set('runAt', 'tomorrow');
    form.set('file', new Blob(['a,b\n1,2\n']), 'in.csv');
    const res = await api(s.url, alice, 'POST', '/api/jobs', form);
    expect([res.status, res.body.error.message]).toEqual([400, expect.stringMatching(/^runAt must be/)]);
    const mine = await api(s.url, alice, 'GET', '/api/jobs');
    expect(mine.body.items).toEqual([]);
  });
});
