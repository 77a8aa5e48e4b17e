import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { api, waitForJob } from '../helpers/api-server.js';
import { createScratchDatabase } from '../helpers/db.js';
import { sqsEnv, startEmulator, type Emulator } from '../helpers/fauxqs.js';
import {
  profileToken,
  startServerProcess,
  startWorkerProcess,
  type CliProcess,
  type ServerProcess,
} from '../helpers/server-process.js';

/**
 * Fair sharing between owners on SQS (issue 15), with real processes: `jobs server --no-worker`
 * (the API and the outbox relay) and `jobs worker` fed by SQS (fauxqs over HTTP), on PostgreSQL.
 * User A submits 1,000 jobs, then user B submits 1: B's job starts before A's 10th next job,
 * because the relay keeps A's backlog in the outbox (JOBS_SQS_DISPATCH_WINDOW, default 5) instead
 * of ahead of B's message in SQS, and each of A's claims wakes it (NOTIFY) to send the next.
 */
const withPostgres = process.env.TEST_DATABASE_URL ? describe : describe.skip;

withPostgres('fair sharing on SQS (PostgreSQL + fauxqs, real processes)', () => {
  let emu: Emulator;
  let db: { url: string; drop: () => Promise<void> };
  let server: ServerProcess;
  let worker: CliProcess | undefined;
  let env: Record<string, string>;
  let configHome: string;

  beforeAll(async () => {
    [emu, db] = await Promise.all([startEmulator(), createScratchDatabase()]);
    const queue = await emu.createQueue('jobs', { maxReceiveCount: 3 });
    configHome = fs.mkdtempSync(path.join(os.tmpdir(), 'jobs-fair-cfg-'));
    env = {
      ...sqsEnv(emu, queue),
      DATABASE_URL: db.url,
      JOBS_DATA_DIR: fs.mkdtempSync(path.join(os.tmpdir(), 'jobs-fair-data-')),
    };
    server = await startServerProcess({ ...env, XDG_CONFIG_HOME: configHome }, ['--no-worker']);
  }, 120_000);

  afterAll(async () => {
    if (worker?.child.exitCode === null) worker.child.kill('SIGKILL');
    await server?.stop();
    await emu?.stop();
    await db?.drop();
    for (const d of [configHome, env?.JOBS_DATA_DIR]) if (d) fs.rmSync(d, { recursive: true, force: true });
  });

  async function tokenFor(user: string): Promise<string> {
    const r = await api(server.url, profileToken(configHome), 'POST', '/api/tokens', { user });
    expect(r.status).toBe(201);
    return r.body.token as string;
  }

  it("starts B's one job before A's 10th next job when A has 1,000 waiting", async () => {
    const [a, b] = [await tokenFor('owner-a'), await tokenFor('owner-b')];
    const batch = await api(server.url, a, 'POST', '/api/jobs/batch', {
      jobs: Array.from({ length: 1000 }, () => ({ type: 'noop', params: { sleepMs: 20 } })),
    });
    expect(batch.body.created).toBe(1000);
    const aIds: string[] = batch.body.results.map((r: { job: { id: string } }) => r.job.id);

    worker = await startWorkerProcess(env, ['--concurrency', '2']);
    // A's backlog is being worked through when B submits.
    await waitForJob(server.url, a, aIds[0]);
    const bJob = (await api(server.url, b, 'POST', '/api/jobs', { type: 'noop', params: { sleepMs: 20 } }))
      .body;
    expect((await waitForJob(server.url, b, bJob.id)).status).toBe('COMPLETED');

    const client = new pg.Client({ connectionString: db.url });
    await client.connect();
    try {
      const { rows } = await client.query<{ since: number; pending: number }>(
        `SELECT
           count(*) FILTER (WHERE a.started_at > bj.created_at AND a.started_at < bj.started_at)::int AS since,
           count(*) FILTER (WHERE a.status = 'PENDING')::int AS pending
         FROM jobs a, jobs bj
         WHERE bj.id = $1 AND a.owner_id <> bj.owner_id`,
        [bJob.id],
      );
      // Of A's jobs, fewer than 10 started between B's submit and B's start, while most of A's
      // were still waiting (so the order was the relay's doing, not an empty queue's).
      expect(rows[0].since).toBeLessThan(10);
      expect(rows[0].pending).toBeGreaterThan(500);
    } finally {
      await client.end();
    }
    expect(await worker.stop('SIGTERM')).toBe(0);
  }, 120_000);
});
