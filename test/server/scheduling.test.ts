import { afterAll, afterEach, beforeAll, describe, expect, it } from '@jest/globals';
import pino from 'pino';
import { z } from 'zod';
import { compose, defaultHandlers, type Platform } from '../../compose/compose.js';
import type { Attempt } from '../../core/jobs/job-store.js';
import type { JobHandler } from '../../processor/handler.js';
import { api, startTestServer, type TestServer } from '../helpers/api-server.js';
import { testConfig } from '../helpers/config.js';
import { until } from '../helpers/counting.js';
import { dbKinds } from '../helpers/db.js';

/**
 * Scheduling (issue 15) with the real server, the database queue and real workers: priorities
 * (submitted, a type's default, the configuration's override), fair sharing between owners, and
 * concurrency limits per type and per owner held across two platforms sharing one database (as
 * two `jobs worker` processes would).
 */

/** Job types that record when each job starts and how many run at once. */
function recorder() {
  const started: string[] = [];
  let running = 0;
  let most = 0;
  const byOwnerRunning = new Map<string, number>();
  const mostByOwner = new Map<string, number>();
  const make = (
    type: string,
    extra: Partial<JobHandler> = {},
  ): JobHandler<{ sleepMs: number; owner: string }> => ({
    type,
    description: 'records its start',
    params: z.object({ sleepMs: z.number().int().min(0).default(0), owner: z.string().default('') }),
    input: 'none',
    ...extra,
    async run(ctx) {
      started.push(ctx.jobId);
      running++;
      most = Math.max(most, running);
      const o = ctx.params.owner;
      byOwnerRunning.set(o, (byOwnerRunning.get(o) ?? 0) + 1);
      mostByOwner.set(o, Math.max(mostByOwner.get(o) ?? 0, byOwnerRunning.get(o)!));
      try {
        await new Promise((r) => setTimeout(r, ctx.params.sleepMs));
      } finally {
        running--;
        byOwnerRunning.set(o, byOwnerRunning.get(o)! - 1);
      }
      return null;
    },
  });
  return {
    started,
    make,
    most: () => most,
    mostOf: (owner: string) => mostByOwner.get(owner) ?? 0,
    reset() {
      started.length = 0;
      most = 0;
      mostByOwner.clear();
    },
  };
}

describe.each(dbKinds())('priorities and fair sharing on %s', (kind) => {
  const rec = recorder();
  let s: TestServer;
  let worker: { stop(graceMs: number): Promise<void> } | undefined;

  beforeAll(async () => {
    s = await startTestServer(kind, {
      handlers: [
        rec.make('rec'),
        rec.make('rec-urgent', { priority: 3 }),
        rec.make('rec-low', { priority: 9 }),
      ],
      // The environment's default for rec-low wins over its handler's.
      config: { typePriority: new Map([['rec-low', -2]]) },
    });
  });
  afterEach(async () => {
    await worker?.stop(1000);
    worker = undefined;
    await s.reset();
    rec.reset();
  });
  afterAll(async () => {
    await s.close();
  });

  const submit = async (token: string, body: object) => {
    const res = await api(s.url, token, 'POST', '/api/jobs', body);
    expect(res.status).toBe(201);
    return res.body;
  };

  it('runs higher priorities first, oldest first within one, and shows each job its priority', async () => {
    const alice = await s.token('alice');
    const ids: string[] = [];
    for (const priority of [0, 5, -5, 5, 0]) ids.push((await submit(alice, { type: 'rec', priority })).id);
    const [a, b, c, d, e] = ids;
    worker = s.platform.startWorker({ concurrency: 1 });
    await until(
      'all five to start',
      () => rec.started.length,
      (n) => n === 5,
    );
    expect(rec.started).toEqual([b, d, a, e, c]);
    expect((await api(s.url, alice, 'GET', `/api/jobs/${b}`)).body.priority).toBe(5);
    const list = await api(s.url, alice, 'GET', '/api/jobs');
    expect(list.body.items.map((j: { priority: number }) => j.priority).sort()).toEqual([-5, 0, 0, 5, 5]);
  });

  it("gives a job its type's priority (handler, then configuration) unless the submit sets one", async () => {
    const alice = await s.token('alice');
    expect((await submit(alice, { type: 'rec' })).priority).toBe(0);
    expect((await submit(alice, { type: 'rec-urgent' })).priority).toBe(3);
    expect((await submit(alice, { type: 'rec-low' })).priority).toBe(-2);
    expect((await submit(alice, { type: 'rec-urgent', priority: -1 })).priority).toBe(-1);
    const form = new FormData();
    form.set('type', 'rec');
    form.set('priority', '7');
    const multipart = await fetch(`${s.url}/api/jobs`, {
      method: 'POST',
      headers: { authorization: `Bearer ${alice}` },
      body: form,
    });
    expect([multipart.status, ((await multipart.json()) as { priority: number }).priority]).toEqual([201, 7]);
    const batch = await api(s.url, alice, 'POST', '/api/jobs/batch', {
      jobs: [{ type: 'rec', priority: 4 }, { type: 'rec-urgent' }],
    });
    expect(batch.body.results.map((r: { job: { priority: number } }) => r.job.priority)).toEqual([4, 3]);
  });

  it('refuses a priority out of bounds with one clear sentence, and creates nothing', async () => {
    const alice = await s.token('alice');
    for (const priority of [101, -101, 1.5, '3']) {
      const res = await api(s.url, alice, 'POST', '/api/jobs', { type: 'rec', priority });
      expect([res.status, res.body.error.code]).toEqual([400, 'validation_failed']);
      expect(res.body.error.message).toMatch(/priority must be a whole number from -100 to 100/);
    }
    const form = new FormData();
    form.set('type', 'rec');
    form.set('priority', 'high');
    const multipart = await fetch(`${s.url}/api/jobs`, {
      method: 'POST',
      headers: { authorization: `Bearer ${alice}` },
      body: form,
    });
    expect(multipart.status).toBe(400);
    expect((await api(s.url, alice, 'GET', '/api/jobs')).body.items).toEqual([]);
  });

  it("starts B's one job before A's 10th next job when A has 1,000 waiting", async () => {
    const a = await s.token('owner-a');
    const b = await s.token('owner-b');
    const res = await api(s.url, a, 'POST', '/api/jobs/batch', {
      jobs: Array.from({ length: 1000 }, () => ({ type: 'rec', params: { sleepMs: 50 } })),
    });
    expect(res.body.created).toBe(1000);
    worker = s.platform.startWorker({ concurrency: 2 });
    await until(
      "A's jobs to be running",
      () => rec.started.length,
      (n) => n >= 2,
    );
    const before = rec.started.length;
    const bJob = await submit(b, { type: 'rec', params: { sleepMs: 50 } });
    await until("B's job to start", () => rec.started.includes(bJob.id), Boolean);
    const aStartedSince = rec.started.indexOf(bJob.id) - before;
    expect(aStartedSince).toBeLessThan(10);
  });
});

describe.each(dbKinds())('concurrency limits on %s, across two platforms', (kind) => {
  const rec = recorder();
  let s: TestServer;
  let second: Platform;
  const workers: { stop(graceMs: number): Promise<void> }[] = [];

  beforeAll(async () => {
    const handlers = [rec.make('rec'), rec.make('limited', { concurrency: 5 })];
    const config = {
      // The environment's limit for `limited` wins over its handler's 5.
      typeConcurrency: new Map([['limited', 2]]),
      maxRunningJobsPerUser: 2,
    };
    s = await startTestServer(kind, { handlers, config });
    // A second platform on the same database: another worker process as far as limits go.
    const cfg = testConfig({ JOBS_DATA_DIR: s.blobsDir }, { ...config, rateLimitPerMinute: 0 });
    second = await compose(cfg, {
      db: s.t.db,
      blobs: s.blobs,
      logger: pino({ level: 'silent' }),
      handlers: [...defaultHandlers(cfg), ...handlers],
      migrate: false,
    });
  });
  afterEach(async () => {
    await Promise.all(workers.splice(0).map((w) => w.stop(1000)));
    await s.reset();
    rec.reset();
  });
  afterAll(async () => {
    await second.close();
    await s.close();
  });

  const runAll = async (token: string, jobs: object[]) => {
    const res = await api(s.url, token, 'POST', '/api/jobs/batch', { jobs });
    expect(res.body.created).toBe(jobs.length);
    return res.body.results.map((r: { job: { id: string } }) => r.job.id) as string[];
  };
  const allDone = (token: string, ids: string[]) =>
    until(
      'every job to complete',
      async () =>
        Promise.all(ids.map(async (id) => (await api(s.url, token, 'GET', `/api/jobs/${id}`)).body.status)),
      (st) => st.every((x) => x === 'COMPLETED'),
    );

  it('runs at most JOBS_TYPE_CONCURRENCY jobs of a type at once across both, and all of them', async () => {
    workers.push(s.platform.startWorker({ concurrency: 4 }), second.startWorker({ concurrency: 4 }));
    const alice = await s.token('alice');
    const bob = await s.token('bob');
    const ids = [
      ...(await runAll(
        alice,
        Array.from({ length: 4 }, () => ({ type: 'limited', params: { sleepMs: 150 } })),
      )),
      ...(await runAll(
        bob,
        Array.from({ length: 4 }, () => ({ type: 'limited', params: { sleepMs: 150 } })),
      )),
    ];
    await allDone(alice, ids.slice(0, 4));
    await allDone(bob, ids.slice(4));
    expect(rec.most()).toBe(2);
  });

  it("runs at most JOBS_MAX_RUNNING_JOBS_PER_USER of an owner's jobs at once, leaving slots to others", async () => {
    workers.push(s.platform.startWorker({ concurrency: 3 }), second.startWorker({ concurrency: 3 }));
    const alice = await s.token('alice');
    const bob = await s.token('bob');
    const aliceIds = await runAll(
      alice,
      Array.from({ length: 6 }, () => ({ type: 'rec', params: { sleepMs: 150, owner: 'alice' } })),
    );
    const bobIds = await runAll(
      bob,
      Array.from({ length: 2 }, () => ({ type: 'rec', params: { sleepMs: 150, owner: 'bob' } })),
    );
    await allDone(alice, aliceIds);
    await allDone(bob, bobIds);
    expect(rec.mostOf('alice')).toBe(2);
    expect(rec.mostOf('bob')).toBeLessThanOrEqual(2);
    // Bob did not wait for all of alice's jobs: his first started before her last.
    expect(rec.started.indexOf(bobIds[0])).toBeLessThan(rec.started.indexOf(aliceIds[5]));
  });

  it("puts off a claim over a limit (the Lambda's claim) until a slot is free", async () => {
    const alice = await s.token('alice');
    const ids = await runAll(
      alice,
      Array.from({ length: 3 }, () => ({ type: 'limited' })),
    );
    const first = await s.store.claimWithinLimits(ids[0], crypto.randomUUID(), 30);
    const second = await s.store.claimWithinLimits(ids[1], crypto.randomUUID(), 30);
    expect(first).toMatchObject({ job: { id: ids[0] } });
    expect(second).toMatchObject({ job: { id: ids[1] } });
    expect(await s.store.claimWithinLimits(ids[2], crypto.randomUUID(), 30)).toBe('over-limit');
    expect((await api(s.url, alice, 'GET', `/api/jobs/${ids[2]}`)).body).toMatchObject({
      status: 'PENDING',
      attempts: 0,
    });
    await s.store.complete((first as Attempt).lease, { result: null }, []);
    expect(await s.store.claimWithinLimits(ids[2], crypto.randomUUID(), 30)).toMatchObject({
      job: { id: ids[2] },
    });
  });
});
