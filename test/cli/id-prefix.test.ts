import { afterAll, beforeAll, beforeEach, describe, expect, it } from '@jest/globals';
import fs from 'node:fs';
import { api, startTestServer, type TestServer } from '../helpers/api-server.js';
import { runCli, tempConfigHome } from './helpers/run-cli.js';

/**
 * Short ids: `jobs list` shows the first 8 characters of each id, and get, logs, cancel and retry
 * take any unique start of one (`GET /api/jobs?idPrefix=`), against a real server.
 */
describe('job ids by their start', () => {
  let s: TestServer;
  let configHome: string;
  let alice: string;
  let bob: string;
  let admin: string;
  const jobs = (args: string[], token = alice) =>
    runCli(args, { env: { XDG_CONFIG_HOME: configHome, JOBS_API_URL: s.url, JOBS_TOKEN: token } });

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
    alice = await s.token('alice');
    bob = await s.token('bob');
    admin = await s.token('root', { admin: true });
  });

  /** A job of `user` with the id given (fixture rows: ids sharing a start). */
  async function job(user: string, id: string, status = 'COMPLETED') {
    const owner = (await s.t.db.prisma.user.findUniqueOrThrow({ where: { name: user } })).id;
    await s.t.db.prisma.$executeRaw`
      INSERT INTO jobs (id, type, status, owner_id, finished_at)
      VALUES (${id}::uuid, 'noop', ${status}::"JobStatus", ${owner}::uuid, now())`;
    return id;
  }

  it('get, logs, cancel and retry take a unique start; list shows 8 characters (--full-ids: all)', async () => {
    const one = await job('alice', 'aaaa1111-0000-4000-8000-000000000001', 'FAILED');
    await job('alice', 'bbbb2222-0000-4000-8000-000000000002');
    const got = await jobs(['get', 'aaaa1111', '--json']);
    expect([got.code, JSON.parse(got.stdout).id]).toEqual([0, one]);
    expect((await jobs(['logs', 'aaaa', '--json'])).code).toBe(0);
    const retried = await jobs(['retry', 'aaaa-1', '--json']); // dashes are ignored
    expect([retried.code, JSON.parse(retried.stdout).id]).toEqual([0, one]);
    expect((await jobs(['cancel', 'aaaa1111'])).code).toBe(0); // PENDING again after the retry

    const list = await jobs(['list']);
    expect(list.stdout).toMatch(/│ aaaa1111 │/);
    expect(list.stdout).not.toContain(one);
    expect((await jobs(['list', '--full-ids'])).stdout).toContain(one);
  });

  it("says when a start matches no job or several, and never finds another user's job", async () => {
    await job('alice', 'cccc0000-0000-4000-8000-000000000001');
    await job('alice', 'cccc0001-0000-4000-8000-000000000002');
    const several = await jobs(['get', 'cccc']);
    expect([several.code, several.stderr]).toEqual([
      2,
      expect.stringMatching(/^cccc is the start of more than one job id/),
    ]);
    expect((await jobs(['get', 'cccc0001'])).code).toBe(0);
    const none = await jobs(['get', 'dddd']);
    expect([none.code, none.stderr]).toEqual([1, "no job's id starts with dddd\n"]);
    const hidden = await job('bob', 'eeee0000-0000-4000-8000-000000000001');
    expect((await jobs(['get', 'eeee'])).code).toBe(1); // alice's view
    expect((await jobs(['get', 'eeee'], bob)).code).toBe(0);
    const byAdmin = await jobs(['get', 'eeee', '--json'], admin); // not the admin's own: everyone's next
    expect(JSON.parse(byAdmin.stdout).id).toBe(hidden);
  });

  it('GET /api/jobs?idPrefix= filters, and refuses what is not the start of an id', async () => {
    const id = await job('alice', 'ffff0000-0000-4000-8000-000000000001');
    const res = await api(s.url, alice, 'GET', '/api/jobs?idPrefix=FFFF00');
    expect(res.body.items.map((j: { id: string }) => j.id)).toEqual([id]);
    for (const bad of ['ab', 'xyz1', `${id}0`])
      expect((await api(s.url, alice, 'GET', `/api/jobs?idPrefix=${bad}`)).status).toBe(400);
  });
});
