import fs from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { startTestServer, type TestServer } from '../helpers/api-server.js';
import { runCli, tempConfigHome } from './helpers/run-cli.js';

/**
 * `jobs schedules …` spawned as `node bin/run.js` (build first) against a real server (the test
 * server: the app, composed as `jobs server` is, over PGlite): tables, --json shapes, exit codes.
 */
describe('jobs schedules against a real server', () => {
  let s: TestServer;
  let configHome: string;
  let alice: string;
  let bob: string;

  beforeAll(async () => {
    s = await startTestServer('pglite');
    configHome = tempConfigHome();
    alice = await s.token('alice');
    bob = await s.token('bob');
  });
  afterAll(async () => {
    await s.close();
    fs.rmSync(configHome, { recursive: true, force: true });
  });

  const jobs = (args: string[], token = alice) =>
    runCli(['schedules', ...args], {
      env: { XDG_CONFIG_HOME: configHome, JOBS_API_URL: s.url, JOBS_TOKEN: token },
    });

  it('creates (printing the id), lists as a table, gets, pauses, resumes and deletes', async () => {
    const created = await jobs([
      'create',
      '--cron',
      '0 9 * * 1-5',
      '--timezone',
      'Europe/Paris',
      '--type',
      'noop',
      '--param',
      'logLines=3',
      '--params-json',
      '{"sleepMs":10,"logLines":1}',
      '--name',
      'morning',
    ]);
    expect(created.code).toBe(0);
    const id = created.stdout.trim();
    expect(id).toMatch(/^[0-9a-f-]{36}$/);
    expect(created.stderr).toMatch(new RegExp(`Created schedule ${id}: next run 20\\d\\d-`));

    const list = await jobs(['list']);
    expect(list.code).toBe(0);
    expect(list.stdout).toMatch(/┌/);
    // The id shows as its first 8 characters, which every command takes (as for jobs).
    for (const cell of [
      'id',
      'cron',
      'next run',
      `│ ${id.slice(0, 8)} │`,
      '0 9 * * 1-5',
      'Europe/Paris',
      'morning',
      'active',
    ])
      expect(list.stdout).toContain(cell);

    const got = await jobs(['get', id, '--json']);
    expect(got.code).toBe(0);
    const schedule = JSON.parse(got.stdout);
    expect(schedule).toMatchObject({
      id,
      name: 'morning',
      type: 'noop',
      params: { sleepMs: 10, logLines: 3, fail: false }, // --param wins over --params-json
      paused: false,
      missed: 'run-once',
    });
    const human = await jobs(['get', id]);
    expect(human.stdout).toMatch(/^cron:\s+0 9 \* \* 1-5$/m);
    expect(human.stdout).toMatch(/^state:\s+active$/m);

    const paused = await jobs(['pause', id.slice(0, 8)]);
    expect(paused.code).toBe(0);
    expect(paused.stdout.trim()).toBe(`Paused schedule ${id} (morning)`);
    expect(JSON.parse((await jobs(['get', id, '--json'])).stdout)).toMatchObject({
      paused: true,
      nextRunAt: null,
    });
    const resumed = await jobs(['resume', id.slice(0, 5), '--json']);
    expect(JSON.parse(resumed.stdout)).toMatchObject({ id, paused: false, nextRunAt: expect.any(String) });

    const listJson = JSON.parse((await jobs(['list', '--json'])).stdout);
    expect(listJson.items.map((x: { id: string }) => x.id)).toEqual([id]);

    const deleted = await jobs(['delete', id]);
    expect(deleted.code).toBe(0);
    expect(deleted.stdout.trim()).toBe(`Deleted schedule ${id} (morning)`);
    const gone = await jobs(['get', id]);
    expect(gone.code).toBe(1);
    expect(gone.stderr.trim()).toBe(`schedule ${id} not found`);
    const goneShort = await jobs(['get', id.slice(0, 8)]);
    expect([goneShort.code, goneShort.stderr.trim()]).toEqual([
      1,
      `no schedule's id starts with ${id.slice(0, 8)}`,
    ]);
  });

  it("reports the API's refusals as one sentence (exit 1), usage errors with exit 2", async () => {
    const bad = await jobs(['create', '--cron', 'sometimes', '--type', 'noop']);
    expect(bad.code).toBe(1);
    expect(bad.stderr.trim()).toMatch(/^cron: "sometimes" is not a valid cron expression/);
    const badJson = await jobs([
      'create',
      '--cron',
      '* * * * *',
      '--type',
      'noop',
      '--timezone',
      'Moon/Base',
      '--json',
    ]);
    expect(badJson.code).toBe(1);
    expect(JSON.parse(badJson.stdout).error).toMatchObject({ code: 'validation_failed' });
    const usage = await jobs(['create', '--type', 'noop']);
    expect(usage.code).toBe(2);
    expect(usage.stderr).toMatch(/cron/);
    const notMine = JSON.parse(
      (await jobs(['create', '--cron', '* * * * *', '--type', 'noop', '--paused', '--json'])).stdout,
    );
    const other = await jobs(['pause', notMine.id], bob);
    expect(other.code).toBe(1);
    expect(other.stderr.trim()).toBe(`schedule ${notMine.id} not found`);
    expect((await jobs(['list'], bob)).stderr.trim()).toBe('No schedules.');
  });
});
