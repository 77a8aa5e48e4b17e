import { afterAll, beforeAll, beforeEach, describe, expect, it } from '@jest/globals';
import { api, startTestServer, type TestServer } from '../helpers/api-server.js';
import { ALL_COUNTS_TTL_MS, JobStatsService } from '../../core/jobs/job-stats.js';
import type { Principal } from '../../core/auth/principal.js';

/**
 * GET /api/stats and POST /api/jobs/bulk over real HTTP (the dashboard's overview and its bulk
 * retry / cancel): owner scoping, admins' `all`, per-item results, and bad input changing nothing.
 * No worker runs: jobs are put in the states wanted directly in the table.
 */
describe('GET /api/stats and POST /api/jobs/bulk', () => {
  let s: TestServer;
  let admin: string;
  let alice: string;
  let bob: string;

  beforeAll(async () => {
    s = await startTestServer('pglite');
  });
  afterAll(async () => {
    await s.close();
  });
  beforeEach(async () => {
    await s.reset();
    admin = await s.token('root', { admin: true });
    alice = await s.token('alice');
    bob = await s.token('bob');
  });

  /** A noop job of `token`'s, set to `status` (finished `minutesAgo` minutes ago when terminal). */
  async function job(token: string, status: string, minutesAgo = 0): Promise<string> {
    const res = await api(s.url, token, 'POST', '/api/jobs', { type: 'noop' });
    expect(res.status).toBe(201);
    const terminal = ['COMPLETED', 'FAILED', 'CANCELLED'].includes(status);
    await s.t.db.prisma.$executeRaw`
      UPDATE jobs SET status = ${status}::"JobStatus",
        finished_at = CASE WHEN ${terminal} THEN now() - make_interval(mins => ${minutesAgo}::int) END,
        error = CASE WHEN ${status} = 'FAILED' THEN 'it broke' END
      WHERE id = ${res.body.id}::uuid`;
    return res.body.id;
  }

  const statusOf = async (id: string) => (await api(s.url, admin, 'GET', `/api/jobs/${id}`)).body.status;

  it("counts the caller's jobs per status and the last hour per minute; admins count everyone's", async () => {
    await job(alice, 'COMPLETED', 0);
    await job(alice, 'COMPLETED', 5);
    await job(alice, 'FAILED', 5);
    await job(alice, 'COMPLETED', 90); // before the window
    await job(alice, 'PENDING');
    await job(bob, 'FAILED', 1);

    const mine = await api(s.url, alice, 'GET', '/api/stats');
    expect(mine.status).toBe(200);
    expect(mine.body.all).toBe(false);
    expect(mine.body.counts).toEqual({ PENDING: 1, RUNNING: 0, COMPLETED: 3, FAILED: 1, CANCELLED: 0 });
    expect(mine.body.minutes).toHaveLength(60);
    const starts = mine.body.minutes.map((m: { start: string }) => Date.parse(m.start));
    for (let i = 1; i < 60; i++) expect(starts[i] - starts[i - 1]).toBe(60_000);
    expect(starts[59] % 60_000).toBe(0);
    expect(mine.body.lastHour).toEqual({ completed: 2, failed: 1, failureRate: 1 / 3 });
    // Whichever minutes they fell in (a minute may turn between the UPDATE and the query).
    const sum = (k: 'completed' | 'failed') =>
      mine.body.minutes.reduce((n: number, m: Record<string, number>) => n + m[k], 0);
    expect(sum('completed')).toBe(2);
    expect(sum('failed')).toBe(1);

    const everyone = await api(s.url, admin, 'GET', '/api/stats?all=true');
    expect(everyone.status).toBe(200);
    expect(everyone.body.counts.FAILED).toBe(2);
    expect(everyone.body.lastHour).toEqual({ completed: 2, failed: 2, failureRate: 0.5 });
    // The admin's own jobs: none.
    expect((await api(s.url, admin, 'GET', '/api/stats')).body.lastHour.failureRate).toBeNull();
  });

  it("shares every user's counts for a moment (a count of the whole table), never one user's", async () => {
    let now = 1_000_000;
    const stats = new JobStatsService(s.t.db.prisma, () => now);
    const viewer: Principal = {
      userId: '00000000-0000-4000-8000-000000000001',
      name: 'ops',
      role: 'admin',
      permissions: ['job:Read', 'job:ReadAll'],
      tokenId: '',
    };
    await job(alice, 'FAILED', 1);
    expect((await stats.stats(viewer, { all: true })).counts.FAILED).toBe(1);
    await job(bob, 'FAILED', 1);
    // The same count within ALL_COUNTS_TTL_MS; the minutes are read every time.
    const soon = await stats.stats(viewer, { all: true });
    expect(soon.counts.FAILED).toBe(1);
    expect(soon.lastHour.failed).toBe(2);
    now += ALL_COUNTS_TTL_MS;
    expect((await stats.stats(viewer, { all: true })).counts.FAILED).toBe(2);
    // One user's counts are never shared.
    const bobs = await api(s.url, bob, 'GET', '/api/stats');
    await job(bob, 'FAILED', 1);
    expect((await api(s.url, bob, 'GET', '/api/stats')).body.counts.FAILED).toBe(bobs.body.counts.FAILED + 1);
  });

  it('refuses all=true without job:ReadAll, and unknown or bad query fields', async () => {
    const denied = await api(s.url, alice, 'GET', '/api/stats?all=true');
    expect(denied.status).toBe(403);
    expect(denied.body.error.message).toMatch(/job:ReadAll/);
    for (const q of ['all=maybe', 'since=1h']) {
      const r = await api(s.url, alice, 'GET', `/api/stats?${q}`);
      expect(r.status).toBe(400);
      expect(r.body.error.code).toBe('validation_failed');
    }
    expect((await api(s.url, undefined, 'GET', '/api/stats')).status).toBe(401);
  });

  it('retries and cancels by ids, each job with its own result (wrong state, another user’s, unknown)', async () => {
    const failed = await job(alice, 'FAILED', 1);
    const done = await job(alice, 'COMPLETED', 1);
    const bobs = await job(bob, 'FAILED', 1);
    const unknown = '00000000-0000-4000-8000-000000000000';
    const r = await api(s.url, alice, 'POST', '/api/jobs/bulk', {
      action: 'retry',
      ids: [failed, done, bobs, unknown],
    });
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({ action: 'retry', succeeded: 1, failed: 3, more: false });
    expect(r.body.results.map((x: { id: string; status: number }) => [x.id, x.status])).toEqual([
      [failed, 200],
      [done, 409],
      [bobs, 404],
      [unknown, 404],
    ]);
    expect(r.body.results[0].job.status).toBe('PENDING');
    expect(r.body.results[1].error.code).toBe('conflict');
    expect(await statusOf(bobs)).toBe('FAILED');

    const pending = await job(alice, 'PENDING');
    const c = await api(s.url, alice, 'POST', '/api/jobs/bulk', { action: 'cancel', ids: [pending, failed] });
    expect(c.body.succeeded).toBe(2); // `failed` was retried above: PENDING again
    expect(await statusOf(pending)).toBe('CANCELLED');

    // An admin changes anyone's.
    const a = await api(s.url, admin, 'POST', '/api/jobs/bulk', { action: 'retry', ids: [bobs] });
    expect(a.body.succeeded).toBe(1);
  });

  it('retries "all failed" of a filter: own jobs only, the type filter kept, capped with `more`', async () => {
    const mine = [await job(alice, 'FAILED', 1), await job(alice, 'FAILED', 2)];
    const cancelled = await job(alice, 'CANCELLED', 1);
    const bobs = await job(bob, 'FAILED', 1);
    const r = await api(s.url, alice, 'POST', '/api/jobs/bulk', {
      action: 'retry',
      filter: { status: 'FAILED', type: 'noop' },
    });
    expect(r.status).toBe(200);
    expect(r.body.succeeded).toBe(2);
    expect(r.body.results.map((x: { id: string }) => x.id).sort()).toEqual([...mine].sort());
    expect(await statusOf(bobs)).toBe('FAILED');
    expect(await statusOf(cancelled)).toBe('CANCELLED');
    // Another type matches nothing.
    const none = await api(s.url, alice, 'POST', '/api/jobs/bulk', {
      action: 'retry',
      filter: { type: 'csv-import' },
    });
    expect(none.body).toMatchObject({ succeeded: 0, failed: 0, results: [], more: false });

    // Every user's, for an admin; 101 matches: 100 done, `more` set, then the last one.
    const ids: string[] = [];
    for (let i = 0; i < 100; i++) ids.push(await job(i % 2 ? alice : bob, 'FAILED', 1));
    const first = await api(s.url, admin, 'POST', '/api/jobs/bulk', {
      action: 'retry',
      filter: { status: 'FAILED', all: true },
    });
    expect(first.body).toMatchObject({ succeeded: 100, more: true });
    const second = await api(s.url, admin, 'POST', '/api/jobs/bulk', {
      action: 'retry',
      filter: { status: 'FAILED', all: true },
    });
    expect(second.body).toMatchObject({ succeeded: 1, more: false });
  });

  it('refuses a request wrong as a whole, and changes nothing', async () => {
    const failed = await job(alice, 'FAILED', 1);
    const many = Array.from({ length: 101 }, () => failed);
    const cases: [unknown, number, RegExp][] = [
      [{ ids: [failed] }, 400, /action/],
      [{ action: 'delete', ids: [failed] }, 400, /action must be "retry" or "cancel"/],
      [{ action: 'retry' }, 400, /either ids or filter/],
      [{ action: 'retry', ids: [failed], filter: {} }, 400, /either ids or filter/],
      [{ action: 'retry', ids: [] }, 400, /at least one/],
      [{ action: 'retry', ids: many }, 400, /at most 100/],
      [{ action: 'retry', ids: ['nope'] }, 400, /uuids/],
      [{ action: 'retry', filter: { status: 'RUNNING' } }, 400, /retry applies to FAILED or CANCELLED/],
      [{ action: 'cancel', filter: { status: 'FAILED' } }, 400, /cancel applies to PENDING or RUNNING/],
      [{ action: 'retry', filter: { owner: 'x' } }, 400, /owner|unrecognized/i],
      [{ action: 'retry', filter: { all: true } }, 403, /job:ReadAll/],
      ['[1,2', 400, /malformed JSON/],
    ];
    for (const [body, status, message] of cases) {
      const r = await api(s.url, alice, 'POST', '/api/jobs/bulk', body);
      expect([JSON.stringify(body), r.status]).toEqual([JSON.stringify(body), status]);
      expect(r.body.error.message).toMatch(message);
    }
    const text = await api(s.url, alice, 'POST', '/api/jobs/bulk', 'x', { 'content-type': 'text/plain' });
    expect(text.status).toBe(415);
    // A token that may only read changes nothing, whatever it names.
    const reader = await s.token('alice', { permissions: ['job:Read'] });
    const readOnly = await api(s.url, reader, 'POST', '/api/jobs/bulk', { action: 'retry', ids: [failed] });
    expect(readOnly.status).toBe(403);
    expect(readOnly.body.error.message).toMatch(/job:Create/);
    expect(await statusOf(failed)).toBe('FAILED');
  });
});
