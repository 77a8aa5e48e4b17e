import { afterAll, beforeAll, beforeEach, describe, expect, it } from '@jest/globals';
import fs from 'node:fs';
import { api, startTestServer, type TestServer } from '../helpers/api-server.js';
import { until } from '../helpers/counting.js';
import { dbKinds } from '../helpers/db.js';
import { runCli, tempConfigHome } from '../cli/helpers/run-cli.js';

/**
 * Retention through the API and the CLI: `POST /api/prune` (admins with job:ManageAll) and
 * `jobs prune`, on a real server. The deletion itself is tested in test/core/jobs/retention.test.ts.
 */
describe('POST /api/prune and jobs prune', () => {
  let s: TestServer;
  let admin: string;
  let alice: string;
  let configHome: string;

  beforeAll(async () => {
    s = await startTestServer('pglite');
    configHome = tempConfigHome();
  });
  afterAll(async () => {
    await s.close();
    fs.rmSync(configHome, { recursive: true, force: true });
  });
  beforeEach(async () => {
    await s.reset();
    admin = await s.token('root', { admin: true });
    alice = await s.token('alice');
  });

  /** `n` noop jobs of alice's, COMPLETED `daysAgo` days ago (fixture rows). */
  async function finished(n: number, daysAgo: number) {
    for (let i = 0; i < n; i++) {
      const res = await api(s.url, alice, 'POST', '/api/jobs', { type: 'noop' });
      expect(res.status).toBe(201);
      await s.t.db.prisma.$executeRaw`
        UPDATE jobs SET status = 'COMPLETED', finished_at = now() - make_interval(days => ${daysAgo}::int)
        WHERE id = ${res.body.id}::uuid`;
    }
  }
  const jobs = (args: string[], token: string) =>
    runCli(args, { env: { XDG_CONFIG_HOME: configHome, JOBS_API_URL: s.url, JOBS_TOKEN: token } });

  it('counts with dryRun, then deletes what is older than olderThan (default: the retention days)', async () => {
    await finished(2, 40);
    await finished(1, 10);
    const dry = await api(s.url, admin, 'POST', '/api/prune', { olderThan: '7d', dryRun: true });
    expect(dry.status).toBe(200);
    expect(dry.body).toMatchObject({ dryRun: true, jobs: 3, inputs: 0 });
    expect(await s.t.db.prisma.job.count()).toBe(3);

    // No olderThan: the server's JOBS_RETENTION_DAYS (30 by default).
    const done = await api(s.url, admin, 'POST', '/api/prune', {});
    expect(done.status).toBe(200);
    expect(done.body).toMatchObject({ dryRun: false, jobs: 2, oldest: null });
    expect(Date.now() - Date.parse(done.body.cutoff)).toBeGreaterThanOrEqual(30 * 86_400_000);
    expect(await s.t.db.prisma.job.count()).toBe(1);
  });

  it('runs by itself beside the reaper of a worker (JOBS_RETENTION_DAYS, 30 by default)', async () => {
    await finished(2, 31);
    await finished(1, 29);
    s.startWorker();
    try {
      // The first pass comes a few seconds after the worker starts, then one an hour.
      await until(
        'retention to delete the two old jobs',
        () => s.t.db.prisma.job.count(),
        (n) => n === 1,
      );
    } finally {
      await s.stopWorker();
    }
  });

  it('refuses users, bad ages and unknown fields, and changes nothing', async () => {
    await finished(1, 40);
    const user = await api(s.url, alice, 'POST', '/api/prune', { olderThan: '1d' });
    expect([user.status, user.body.error.code]).toEqual([403, 'forbidden']);
    for (const body of [{ olderThan: '7 days' }, { olderThan: '0d' }, { olderThan: 7 }, { dryrun: true }]) {
      const res = await api(s.url, admin, 'POST', '/api/prune', body);
      expect([JSON.stringify(body), res.status]).toEqual([JSON.stringify(body), 400]);
    }
    const bad = await api(s.url, admin, 'POST', '/api/prune', { olderThan: '7 days' });
    expect(bad.body.error.message).toMatch(/^olderThan must be a whole number and a unit: s, m, h, d or w/);
    expect((await api(s.url, undefined, 'POST', '/api/prune', {})).status).toBe(401);
    expect(await s.t.db.prisma.job.count()).toBe(1);
  });

  it('jobs prune --dry-run, then jobs prune, as an admin; a user gets exit 1 with a sentence', async () => {
    await finished(2, 9);
    const dry = await jobs(['prune', '--older-than', '1w', '--dry-run'], admin);
    expect([dry.code, dry.stdout]).toEqual([
      0,
      expect.stringMatching(/^Would delete 2 job\(s\) finished before /),
    ]);
    const json = await jobs(['prune', '--older-than', '1w', '--json'], admin);
    expect(json.code).toBe(0);
    expect(JSON.parse(json.stdout)).toMatchObject({ dryRun: false, jobs: 2, inputs: 0 });
    expect(await s.t.db.prisma.job.count()).toBe(0);
    const refused = await jobs(['prune'], alice);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/job:ManageAll/);
  });
});

/**
 * The behaviour asked of retention: a backlog of 100,000 finished jobs goes in small batches while
 * the API keeps answering. The limit on each request's time is the behaviour, and generous.
 */
(dbKinds().includes('postgres') ? describe : describe.skip)('retention of 100,000 jobs (PostgreSQL)', () => {
  let s: TestServer;

  beforeAll(async () => {
    s = await startTestServer('postgres');
  });
  afterAll(async () => {
    await s?.close();
  });

  it('deletes them all while reads and submits keep answering', async () => {
    const alice = await s.token('alice');
    const admin = await s.token('root', { admin: true });
    const owner = (await s.t.db.prisma.user.findUniqueOrThrow({ where: { name: 'alice' } })).id;
    await s.t.db.prisma.$executeRaw`
      INSERT INTO jobs (id, type, status, owner_id, created_at, finished_at)
      SELECT gen_random_uuid(), 'noop', 'COMPLETED', ${owner}::uuid,
             now() - interval '41 days', now() - interval '40 days' - make_interval(secs => n)
      FROM generate_series(1, 100000) AS n`;
    await s.t.db.prisma.$executeRaw`
      INSERT INTO job_logs (job_id, seq, level, message)
      SELECT id, 1, 'info', 'completed in 0.00 s' FROM jobs`;
    await s.t.db.prisma.$executeRaw`ANALYZE jobs`;

    const pruning = api(s.url, admin, 'POST', '/api/prune', {});
    let done = false;
    void pruning.finally(() => (done = true));
    const slowest = { ms: 0, what: '' };
    let requests = 0;
    while (!done) {
      for (const [what, call] of [
        ['GET /api/jobs', () => api(s.url, alice, 'GET', '/api/jobs?limit=20')],
        ['POST /api/jobs', () => api(s.url, alice, 'POST', '/api/jobs', { type: 'noop' })],
      ] as const) {
        const started = performance.now();
        const res = await call();
        expect(res.status).toBeLessThan(300);
        const ms = performance.now() - started;
        if (ms > slowest.ms) Object.assign(slowest, { ms, what });
        requests++;
      }
    }
    const result = await pruning;
    expect(result.status).toBe(200);
    expect(result.body.jobs).toBe(100_000);
    expect(await s.t.db.prisma.job.count({ where: { status: 'COMPLETED' } })).toBe(0);
    expect(await s.t.db.prisma.jobLog.count()).toBe(0);
    expect(await s.t.db.prisma.job.count()).toBe(requests / 2); // the submits made meanwhile
    console.log(
      `retention: 100,000 jobs pruned; ${requests} requests meanwhile, the slowest ${Math.round(slowest.ms)} ms (${slowest.what})`,
    );
    expect(slowest.ms).toBeLessThan(5_000);
  }, 300_000);
});
