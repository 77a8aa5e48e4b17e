import { afterAll, beforeAll, beforeEach, describe, expect, it } from '@jest/globals';
import type { z } from 'zod';
import * as schemas from '../../server/schemas.js';
import { api, startTestServer, type TestServer } from '../helpers/api-server.js';
import { until } from '../helpers/counting.js';
import { dbKinds } from '../helpers/db.js';

const check = (schema: z.ZodType, body: unknown) => {
  const r = schema.safeParse(body);
  if (!r.success) throw new Error(`${JSON.stringify(r.error.issues)}\n${JSON.stringify(body)}`);
};

/** /api/schedules through the real app over HTTP: the service, its ownership rules, bad input. */
describe.each(dbKinds())('REST /api/schedules on %s', (kind) => {
  let s: TestServer;
  let admin: string;
  let alice: string;
  let bob: string;

  beforeAll(async () => {
    s = await startTestServer(kind);
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

  const count = () => s.t.db.prisma.schedule.count();
  const create = (token: string, body: unknown) => api(s.url, token, 'POST', '/api/schedules', body);

  it('creates, reads, lists, pauses, resumes, changes and deletes a schedule', async () => {
    const created = await create(alice, {
      cron: '*/5 * * * *',
      type: 'noop',
      params: { logLines: 2 },
      name: 'heartbeat',
      timezone: 'Europe/Paris',
    });
    expect(created.status).toBe(201);
    check(schemas.scheduleResponse, created.body);
    expect(created.body).toMatchObject({
      name: 'heartbeat',
      cron: '*/5 * * * *',
      timezone: 'Europe/Paris',
      type: 'noop',
      params: { logLines: 2, sleepMs: 0, fail: false }, // defaults applied, as on submit
      paused: false,
      missed: 'run-once',
      lastRunAt: null,
      lastJobId: null,
      lastError: null,
    });
    const next = Date.parse(created.body.nextRunAt);
    expect(next).toBeGreaterThan(Date.now());
    expect(next - Date.now()).toBeLessThanOrEqual(5 * 60_000);
    expect(new Date(next).getUTCMinutes() % 5).toBe(0);
    const id = created.body.id;

    const got = await api(s.url, alice, 'GET', `/api/schedules/${id}`);
    expect(got.body).toEqual(created.body);
    const list = await api(s.url, alice, 'GET', '/api/schedules');
    expect(list.status).toBe(200);
    check(schemas.scheduleListResponse, list.body);
    expect(list.body.items.map((x: { id: string }) => x.id)).toEqual([id]);

    const paused = await api(s.url, alice, 'PATCH', `/api/schedules/${id}`, { paused: true });
    expect(paused.status).toBe(200);
    expect(paused.body).toMatchObject({ paused: true, nextRunAt: null });
    const resumed = await api(s.url, alice, 'PATCH', `/api/schedules/${id}`, { paused: false });
    expect(resumed.body.paused).toBe(false);
    expect(Date.parse(resumed.body.nextRunAt)).toBeGreaterThan(Date.now());

    const changed = await api(s.url, alice, 'PATCH', `/api/schedules/${id}`, {
      cron: '0 9 * * 1-5',
      params: { sleepMs: 5 },
      name: null,
      missed: 'skip',
    });
    expect(changed.status).toBe(200);
    expect(changed.body).toMatchObject({
      cron: '0 9 * * 1-5',
      params: { sleepMs: 5, logLines: 0, fail: false },
      name: null,
      missed: 'skip',
    });
    // 09:00 in Paris on a weekday.
    const nine = new Date(changed.body.nextRunAt);
    const paris = new Intl.DateTimeFormat('en-GB', {
      timeZone: 'Europe/Paris',
      hour: '2-digit',
      minute: '2-digit',
      weekday: 'short',
    }).format(nine);
    expect(paris).toMatch(/^(Mon|Tue|Wed|Thu|Fri) 09:00$/);

    const deleted = await api(s.url, alice, 'DELETE', `/api/schedules/${id}`);
    expect(deleted.status).toBe(200);
    expect(deleted.body.id).toBe(id);
    expect((await api(s.url, alice, 'GET', `/api/schedules/${id}`)).status).toBe(404);
    expect(await count()).toBe(0);
  });

  it("another user's schedule is a 404 and stays as it was; admins see and manage it", async () => {
    const { body: mine } = await create(alice, { cron: '*/5 * * * *', type: 'noop' });
    for (const [method, body] of [
      ['GET', undefined],
      ['PATCH', { paused: true }],
      ['DELETE', undefined],
    ] as const) {
      const res = await api(s.url, bob, method, `/api/schedules/${mine.id}`, body);
      expect(res.status).toBe(404);
      expect(res.body.error).toEqual({ code: 'not_found', message: `schedule ${mine.id} not found` });
    }
    expect((await api(s.url, bob, 'GET', '/api/schedules')).body.items).toEqual([]);
    expect((await api(s.url, alice, 'GET', `/api/schedules/${mine.id}`)).body).toEqual(mine);
    // Listing everyone's needs job:ReadAll.
    expect((await api(s.url, bob, 'GET', '/api/schedules?all=true')).status).toBe(403);
    const all = await api(s.url, admin, 'GET', '/api/schedules?all=true');
    expect(all.body.items.map((x: { id: string }) => x.id)).toEqual([mine.id]);
    const paused = await api(s.url, admin, 'PATCH', `/api/schedules/${mine.id}`, { paused: true });
    expect(paused.status).toBe(200);
    expect(paused.body.ownerId).toBe(mine.ownerId);
    // A read-only token reads its own schedules but creates none.
    const reader = await s.token('alice', { permissions: ['job:Read'] });
    expect((await api(s.url, reader, 'GET', `/api/schedules/${mine.id}`)).status).toBe(200);
    const refused = await create(reader, { cron: '*/5 * * * *', type: 'noop' });
    expect(refused.status).toBe(403);
    expect(refused.body.error.message).toMatch(/job:Create/);
    expect((await api(s.url, reader, 'DELETE', `/api/schedules/${mine.id}`)).status).toBe(403);
    expect(await count()).toBe(1);
  });

  it('refuses bad input with a 400 naming the problem, and changes nothing', async () => {
    const cases: [unknown, string, RegExp][] = [
      [
        { cron: 'every minute', type: 'noop' },
        'validation_failed',
        /^cron: "every minute" is not a valid cron expression/,
      ],
      [{ cron: '61 * * * *', type: 'noop' }, 'validation_failed', /^cron: /],
      [{ cron: '* * * * * * * *', type: 'noop' }, 'validation_failed', /^cron: /],
      [{ type: 'noop' }, 'validation_failed', /^cron: cron is required/],
      [
        { cron: '*/5 * * * *', type: 'noop', timezone: 'Mars/Olympus' },
        'validation_failed',
        /^timezone: "Mars\/Olympus" is not a known IANA time zone/,
      ],
      [
        { cron: '*/5 * * * *', type: 'nope' },
        'unknown_job_type',
        /^unknown job type "nope"; valid types: csv-import, noop/,
      ],
      [
        { cron: '*/5 * * * *', type: 'noop', params: { sleepMs: -1 } },
        'validation_failed',
        /^params\.sleepMs: /,
      ],
      [
        { cron: '*/5 * * * *', type: 'csv-import' },
        'validation_failed',
        /^job type "csv-import" needs an input file/,
      ],
      [{ cron: '*/5 * * * *', type: 'noop', every: 5 }, 'validation_failed', /every/],
      [
        { cron: '*/5 * * * *', type: 'noop', missed: 'later' },
        'validation_failed',
        /^missed: missed must be run-once or skip/,
      ],
      ['[1]', 'validation_failed', /^body: the body must be a JSON object/],
    ];
    for (const [body, code, message] of cases) {
      const res = await create(alice, body);
      expect({ body, status: res.status, code: res.body.error?.code }).toEqual({ body, status: 400, code });
      expect(res.body.error.message).toMatch(message);
    }
    expect(await count()).toBe(0);

    const { body: mine } = await create(alice, { cron: '*/5 * * * *', type: 'noop', name: 'n' });
    const patches: [unknown, RegExp][] = [
      [{}, /nothing to change/],
      [{ cron: 'nope' }, /^cron: /],
      [{ timezone: 'Nowhere/Town' }, /^timezone: /],
      [{ type: 'csv-import', params: {} }, /needs an input file/],
      [{ params: { logLines: 'many' } }, /^params\.logLines: /],
      [{ paused: 'yes' }, /^paused: /],
    ];
    for (const [body, message] of patches) {
      const res = await api(s.url, alice, 'PATCH', `/api/schedules/${mine.id}`, body);
      expect({ body, status: res.status }).toEqual({ body, status: 400 });
      expect(res.body.error.message).toMatch(message);
    }
    expect((await api(s.url, alice, 'GET', `/api/schedules/${mine.id}`)).body).toEqual(mine);
    expect((await api(s.url, alice, 'GET', '/api/schedules/not-a-uuid')).status).toBe(404);
  });

  it("a schedule's ticks create jobs that carry its scheduleId; a submitted job has none", async () => {
    const direct = await api(s.url, alice, 'POST', '/api/jobs', { type: 'noop' });
    expect(direct.body).toMatchObject({ scheduleId: null, scheduleTickAt: null });
    const { body: every } = await create(alice, {
      cron: '* * * * * *',
      type: 'noop',
      params: { logLines: 1 },
    });
    s.startWorker(); // with the worker come the reaper and the schedule ticker
    try {
      const page = await until(
        'two jobs of the schedule',
        async () =>
          (await api(s.url, alice, 'GET', '/api/jobs?limit=100')).body.items as { scheduleId: string }[],
        (items) => items.filter((j) => j.scheduleId === every.id).length >= 2,
        30_000,
      );
      const job = page.find((j) => j.scheduleId === every.id)! as {
        scheduleId: string;
        scheduleTickAt: string;
      };
      check(schemas.jobResponse, job);
      expect(job.scheduleTickAt).toMatch(/:\d\d\.000Z$/); // a whole second: the tick it stands for
      const after = await api(s.url, alice, 'GET', `/api/schedules/${every.id}`);
      expect(after.body.lastJobId).not.toBeNull();
      expect(after.body.lastRunAt).not.toBeNull();
      // Bob sees none of them.
      expect(
        (await api(s.url, bob, 'GET', '/api/jobs?limit=100')).body.items.filter(
          (j: { scheduleId: string }) => j.scheduleId === every.id,
        ),
      ).toEqual([]);
    } finally {
      await api(s.url, alice, 'DELETE', `/api/schedules/${every.id}`);
      await s.stopWorker();
    }
  });
});
