import { afterAll, beforeAll, beforeEach, describe, expect, it } from '@jest/globals';
import { jobsBatchResponse } from '../../server/schemas.js';
import { api, startTestServer, waitForJob, type TestServer } from '../helpers/api-server.js';
import { dbKinds } from '../helpers/db.js';

/**
 * POST /api/jobs/batch over real HTTP: up to 1,000 jobs in one request and one transaction, each
 * with its own result (created, the earlier job of its key, or its own error), in order.
 */
describe.each(dbKinds())('POST /api/jobs/batch on %s', (kind) => {
  let s: TestServer;
  let alice: string;

  beforeAll(async () => {
    s = await startTestServer(kind, { config: { maxActiveJobsPerUser: 0 } });
  });
  afterAll(async () => {
    await s.close();
  });
  beforeEach(async () => {
    await s.reset();
    alice = await s.token('alice');
  });

  const batch = (jobs: unknown, token: string | undefined = alice, headers: Record<string, string> = {}) =>
    api(s.url, token, 'POST', '/api/jobs/batch', jobs === undefined ? undefined : { jobs }, headers);
  const counts = async () => ({
    jobs: await s.t.db.prisma.job.count(),
    messages: await s.t.db.prisma.queueMessage.count(),
  });

  it('creates every job in order, each queued; the worker runs them', async () => {
    const res = await batch([
      { type: 'noop' },
      { type: 'noop', params: { logLines: 2 } },
      { type: 'noop', params: { sleepMs: 1 }, maxAttempts: 5 },
    ]);
    expect(res.status).toBe(200);
    expect(jobsBatchResponse.safeParse(res.body).error).toBeUndefined();
    expect(res.body).toMatchObject({ created: 3, existing: 0, failed: 0 });
    const jobs = res.body.results.map((r: any) => {
      expect(r.status).toBe(201);
      return r.job;
    });
    expect(jobs.map((j: any) => [j.type, j.status, j.params, j.maxAttempts])).toEqual([
      ['noop', 'PENDING', { sleepMs: 0, fail: false, logLines: 0 }, 3],
      ['noop', 'PENDING', { sleepMs: 0, fail: false, logLines: 2 }, 3],
      ['noop', 'PENDING', { sleepMs: 1, fail: false, logLines: 0 }, 5],
    ]);
    for (const j of jobs) expect((await api(s.url, alice, 'GET', `/api/jobs/${j.id}`)).body).toEqual(j);
    expect(await counts()).toEqual({ jobs: 3, messages: 3 });
    s.startWorker();
    try {
      for (const j of jobs) expect((await waitForJob(s.url, alice, j.id)).status).toBe('COMPLETED');
    } finally {
      await s.stopWorker();
    }
  });

  it('takes 1,000 jobs in one request', async () => {
    const res = await batch(
      Array.from({ length: 1000 }, (_, i) => ({ type: 'noop', params: { logLines: i % 3 } })),
    );
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ created: 1000, failed: 0 });
    expect(res.body.results[999].job.params.logLines).toBe(999 % 3);
    expect(await counts()).toEqual({ jobs: 1000, messages: 1000 });
  });

  it('gives each bad job its own error (as its own POST would have) and creates the rest', async () => {
    const items = [
      { type: 'noop' },
      { type: 'nope' },
      { type: 'noop', params: { sleepMs: 'slow' } },
      { type: 'csv-import' },
      'noop',
      { params: {} },
      { type: 'noop', delay: 'later' },
      { type: 'noop', priority: 500 },
      { type: 'noop', parms: {} },
      { type: 'noop', uploadId: '6f1c2d1e-8f5a-4c1b-9a55-0a1b2c3d4e5f' },
      { type: 'noop', idempotencyKey: '' },
      { type: 'noop', maxAttempts: 99 },
      { type: 'noop', params: [1] },
      { type: 'noop', params: { logLines: 1 } },
    ];
    const res = await batch(items);
    expect(res.status).toBe(200);
    expect(jobsBatchResponse.safeParse(res.body).error).toBeUndefined();
    const r = res.body.results;
    expect(r.map((x: any) => [x.status, x.error?.code])).toEqual([
      [201, undefined],
      [400, 'unknown_job_type'],
      [400, 'validation_failed'],
      [400, 'validation_failed'],
      [400, 'validation_failed'],
      [400, 'validation_failed'],
      [400, 'validation_failed'],
      [400, 'validation_failed'],
      [400, 'validation_failed'],
      [400, 'validation_failed'],
      [400, 'validation_failed'],
      [400, 'validation_failed'],
      [400, 'validation_failed'],
      [201, undefined],
    ]);
    expect(res.body).toMatchObject({ created: 2, existing: 0, failed: 12 });
    // The same error a POST /api/jobs of that job alone answers.
    for (const i of [1, 2, 3, 11, 12]) {
      const alone = await api(s.url, alice, 'POST', '/api/jobs', items[i]);
      expect(alone.status).toBe(400);
      expect({ i, error: r[i].error }).toEqual({ i, error: alone.body.error });
    }
    expect(r[1].error.details.validTypes).toContain('noop');
    expect(r[3].error.message).toBe('job type "csv-import" needs an input file');
    expect(r[4].error.message).toMatch(/each job must be a JSON object/);
    expect(r[5].error.message).toBe('type: type is required');
    expect(r[6].error.message).toMatch(/^delay must be a whole number and a unit/);
    expect(r[7].error.message).toBe(
      'priority: priority must be a whole number from -100 to 100 (higher runs first)',
    );
    expect(r[8].error.message).toMatch(/parms/);
    expect(r[9].error.message).toMatch(/takes no input file/);
    expect(r[10].error.message).toMatch(/^idempotencyKey: /);
    expect(await counts()).toEqual({ jobs: 2, messages: 2 });
  });

  it('settles Idempotency-Keys per job: same request → the earlier job, another → 422', async () => {
    const single = await api(
      s.url,
      alice,
      'POST',
      '/api/jobs',
      { type: 'noop' },
      { 'idempotency-key': 'solo' },
    );
    expect(single.status).toBe(201);
    const first = await batch([
      { type: 'noop', idempotencyKey: 'k1' },
      { type: 'noop', params: { logLines: 1 }, idempotencyKey: 'k2' },
    ]);
    expect(first.body.results.map((r: any) => r.status)).toEqual([201, 201]);
    const [k1, k2] = first.body.results.map((r: any) => r.job.id);

    const again = await batch([
      { type: 'noop', params: { fail: false }, idempotencyKey: 'k1' }, // the same once defaults apply
      { type: 'noop', params: { logLines: 2 }, idempotencyKey: 'k2' },
      { type: 'noop', idempotencyKey: 'k3' },
      { type: 'noop', idempotencyKey: 'solo' },
      { type: 'noop', idempotencyKey: 'twice' },
      { type: 'noop', params: {}, idempotencyKey: 'twice' },
      { type: 'noop', idempotencyKey: 'clash' },
      { type: 'noop', params: { logLines: 3 }, idempotencyKey: 'clash' },
    ]);
    expect(again.status).toBe(200);
    expect(jobsBatchResponse.safeParse(again.body).error).toBeUndefined();
    const r = again.body.results;
    expect(r.map((x: any) => x.status)).toEqual([200, 422, 201, 200, 201, 200, 201, 422]);
    expect(again.body).toMatchObject({ created: 3, existing: 3, failed: 2 });
    expect(r[0].job.id).toBe(k1);
    expect(r[1].error).toMatchObject({
      code: 'idempotency_conflict',
      message: expect.stringMatching(
        /^Idempotency-Key "k2" was already used for a different request \(params differ\)/,
      ),
      details: { jobId: k2, fields: ['params'] },
    });
    expect(r[3].job.id).toBe(single.body.id);
    expect(r[5].job.id).toBe(r[4].job.id);
    expect(r[7].error).toMatchObject({ code: 'idempotency_conflict', details: { jobId: r[6].job.id } });
    // The 422 of a single POST with a batch job's key: one key space per user.
    const conflict = await api(
      s.url,
      alice,
      'POST',
      '/api/jobs',
      { type: 'noop', params: { logLines: 9 } },
      {
        'idempotency-key': 'k3',
      },
    );
    expect(conflict.status).toBe(422);
    expect(await counts()).toEqual({ jobs: 6, messages: 6 });
  });

  it('refuses a batch that is wrong as a whole with 400/415, writing nothing', async () => {
    const tooMany = await batch(Array.from({ length: 1001 }, () => ({ type: 'noop' })));
    expect(tooMany.status).toBe(400);
    expect(tooMany.body.error).toMatchObject({
      code: 'validation_failed',
      message: 'jobs: jobs holds 1001 jobs: a batch holds 1 to 1000 jobs; send more in several batches',
    });
    const empty = await batch([]);
    expect(empty.status).toBe(400);
    expect(empty.body.error.message).toBe(
      'jobs: jobs is empty: a batch holds 1 to 1000 jobs; send more in several batches',
    );
    const noJobs = await api(s.url, alice, 'POST', '/api/jobs/batch', { type: 'noop' });
    expect(noJobs.status).toBe(400);
    expect(noJobs.body.error.message).toBe('jobs: jobs must be an array of jobs');
    const notObject = await api(s.url, alice, 'POST', '/api/jobs/batch', '[{"type":"noop"}]');
    expect(notObject.status).toBe(400);
    expect(notObject.body.error.message).toBe('body: the body must be a JSON object {"jobs":[…]}');
    const malformed = await api(s.url, alice, 'POST', '/api/jobs/batch', '{"jobs":[{"type":"noop"},');
    expect(malformed.status).toBe(400);
    expect(malformed.body.error).toEqual({ code: 'validation_failed', message: 'malformed JSON body' });
    const text = await api(s.url, alice, 'POST', '/api/jobs/batch', '{"jobs":[]}', {
      'content-type': 'text/plain',
    });
    expect(text.status).toBe(415);
    const keyed = await batch([{ type: 'noop' }], alice, { 'idempotency-key': 'k' });
    expect(keyed.status).toBe(400);
    expect(keyed.body.error.message).toMatch(/give each job its own idempotencyKey/);
    expect(await counts()).toEqual({ jobs: 0, messages: 0 });
  });

  it('answers 401 without a valid token and 403 to a token without job:Create, writing nothing', async () => {
    const none = await api(s.url, undefined, 'POST', '/api/jobs/batch', { jobs: [{ type: 'noop' }] });
    expect(none.status).toBe(401);
    const wrong = await batch([{ type: 'noop' }], 'not-a-token');
    expect(wrong.status).toBe(401);
    const reader = await s.token('reader', { permissions: ['job:Read'] });
    const forbidden = await batch([{ type: 'noop' }], reader);
    expect(forbidden.status).toBe(403);
    expect(forbidden.body.error.code).toBe('forbidden');
    expect(forbidden.body.error.message).toMatch(/job:Create/);
    expect(await counts()).toEqual({ jobs: 0, messages: 0 });
  });
});

/**
 * The active-jobs cap counts jobs (those past it get quota_exceeded each; a batch that can create
 * nothing for it is a 429 whole); the request rate limit counts the batch as one request.
 */
describe.each(dbKinds())('POST /api/jobs/batch limits on %s', (kind) => {
  let s: TestServer;

  beforeAll(async () => {
    s = await startTestServer(kind, { config: { maxActiveJobsPerUser: 3, rateLimitPerMinute: 3 } });
  });
  afterAll(async () => {
    await s.close();
  });

  const batch = (token: string, n: number, extra: object[] = []) =>
    api(s.url, token, 'POST', '/api/jobs/batch', {
      jobs: [...Array.from({ length: n }, () => ({ type: 'noop' })), ...extra],
    });

  it('admits jobs in order up to the cap; past it each gets quota_exceeded; nothing possible → 429', async () => {
    const carol = await s.token('carol');
    const first = await batch(carol, 5);
    expect(first.status).toBe(200);
    expect(first.body.results.map((r: any) => r.status)).toEqual([201, 201, 201, 429, 429]);
    expect(first.body.results[3].error).toMatchObject({
      code: 'quota_exceeded',
      details: { limit: 3, name: 'JOBS_MAX_ACTIVE_JOBS_PER_USER' },
    });
    const full = await fetch(`${s.url}/api/jobs/batch`, {
      method: 'POST',
      headers: { authorization: `Bearer ${carol}`, 'content-type': 'application/json' },
      body: JSON.stringify({ jobs: [{ type: 'noop' }, { type: 'noop' }] }),
    });
    expect(full.status).toBe(429);
    expect(full.headers.get('retry-after')).toBe('60');
    expect(((await full.json()) as any).error.code).toBe('quota_exceeded');
    // Jobs the cap does not stop (bad ones) still answer 200 with their own errors.
    const mixed = await batch(carol, 1, [{ type: 'nope' }]);
    expect(mixed.status).toBe(200);
    expect(mixed.body.results.map((r: any) => r.error.code)).toEqual(['quota_exceeded', 'unknown_job_type']);
    const owner = await s.t.db.prisma.user.findFirstOrThrow({ where: { name: 'carol' } });
    expect(await s.t.db.prisma.job.count({ where: { ownerId: owner.id } })).toBe(3);
  });

  it('counts a batch as one request against the rate limit', async () => {
    const dave = await s.token('dave');
    // 3 requests a minute: a batch of 3 jobs is one of them.
    expect((await batch(dave, 3)).status).toBe(200);
    expect((await batch(dave, 1)).status).toBe(429); // the cap, not the rate
    expect((await batch(dave, 1)).body.error.code).toBe('quota_exceeded');
    const limited = await batch(dave, 1);
    expect(limited.status).toBe(429);
    expect(limited.body.error.code).toBe('rate_limited');
  });
});
