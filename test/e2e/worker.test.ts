import type { ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { api, waitForJob } from '../helpers/api-server.js';
import { createScratchDatabase } from '../helpers/db.js';
import { FileLatch, LATCH_HANDLER } from '../helpers/latch.js';
import {
  type CliProcess,
  profileToken,
  type ServerProcess,
  startServerProcess,
  startWorkerProcess,
} from '../helpers/server-process.js';
import { runCli } from '../cli/helpers/run-cli.js';

/** `jobs worker` processes, next to an API-only `jobs server`, on the PostgreSQL server. */
const withPostgres = process.env.TEST_DATABASE_URL ? describe : describe.skip;

withPostgres('jobs worker', () => {
  let db: { url: string; drop: () => Promise<void> };
  let server: ServerProcess;
  let configHome: string;
  let dataDir: string;
  const workers: ChildProcess[] = [];
  const token = () => profileToken(configHome);
  let latch: FileLatch;

  beforeAll(async () => {
    db = await createScratchDatabase();
    configHome = fs.mkdtempSync(path.join(os.tmpdir(), 'jobs-worker-cfg-'));
    dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'jobs-worker-data-'));
    latch = new FileLatch(path.join(dataDir, 'latch'));
    server = await startServerProcess(
      {
        DATABASE_URL: db.url,
        XDG_CONFIG_HOME: configHome,
        JOBS_DATA_DIR: dataDir,
        JOBS_HANDLERS: LATCH_HANDLER,
      },
      ['--no-worker'],
    );
  }, 120_000);

  afterAll(async () => {
    for (const w of workers) if (w.exitCode === null) w.kill('SIGKILL');
    await server?.stop();
    await db?.drop();
    fs.rmSync(configHome, { recursive: true, force: true });
    fs.rmSync(dataDir, { recursive: true, force: true });
  });

  async function startWorker(args: string[] = []): Promise<CliProcess> {
    const w = await startWorkerProcess(
      { DATABASE_URL: db.url, JOBS_DATA_DIR: dataDir, JOBS_HANDLERS: LATCH_HANDLER },
      args,
    );
    workers.push(w.child);
    return w;
  }

  it('runs the jobs the API queued', async () => {
    const w = await startWorker(['--concurrency', '3']);
    const ids: string[] = [];
    for (let i = 0; i < 6; i++) {
      ids.push(
        (await api(server.url, token(), 'POST', '/api/jobs', { type: 'noop', params: { logLines: 2 } })).body
          .id,
      );
    }
    for (const id of ids)
      expect((await waitForJob(server.url, token(), id, 60_000)).status).toBe('COMPLETED');
    w.child.kill('SIGTERM');
    expect(await w.exited).toBe(0);
  }, 120_000);

  it('lets a running job finish on SIGTERM, then exits 0', async () => {
    const w = await startWorker(['--grace', '60']);
    const { body } = await api(server.url, token(), 'POST', '/api/jobs', {
      type: 'latch',
      params: latch.params(),
    });
    await latch.started(body.id);
    w.child.kill('SIGTERM');
    // The job finishes inside the grace period: it is let go only once the worker is stopping.
    await w.waitForStderr(/SIGTERM received, shutting down/);
    latch.release(body.id);
    expect(await w.exited).toBe(0);
    expect((await api(server.url, token(), 'GET', `/api/jobs/${body.id}`)).body).toMatchObject({
      status: 'COMPLETED',
      attempts: 1,
    });
  }, 120_000);

  it('releases a running job past the grace period, and another worker completes it', async () => {
    const w = await startWorker(['--grace', '0']);
    const { body } = await api(server.url, token(), 'POST', '/api/jobs', {
      type: 'latch',
      params: latch.params(),
    });
    // Held by its latch, it cannot finish within the (zero) grace period.
    await latch.started(body.id);
    w.child.kill('SIGTERM');
    expect(await w.exited).toBe(0);
    const released = (await api(server.url, token(), 'GET', `/api/jobs/${body.id}`)).body;
    expect(released).toMatchObject({ status: 'PENDING', attempts: 0 });
    latch.release(body.id); // the next run goes straight through
    const next = await startWorker();
    expect(await waitForJob(server.url, token(), body.id, 60_000)).toMatchObject({
      status: 'COMPLETED',
      attempts: 1,
    });
    expect(latch.runs(body.id).map((r) => r.pid)).toEqual([w.child.pid, next.child.pid]);
    next.child.kill('SIGTERM');
    expect(await next.exited).toBe(0);
  }, 120_000);

  it('refuses to start without DATABASE_URL', async () => {
    const r = await runCli(['worker'], { env: { JOBS_DATA_DIR: dataDir } });
    expect(r.code).toBe(1);
    expect(r.stderr.trim()).toBe(
      'jobs worker needs DATABASE_URL: the embedded database belongs to `jobs server`, which runs its own worker',
    );
  });
});
