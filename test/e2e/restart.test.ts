import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from '@jest/globals';
import { api, waitForJob } from '../helpers/api-server.js';
import { profileToken, type ServerProcess, startServerProcess } from '../helpers/server-process.js';

/**
 * Nothing is lost when the server stops: real `jobs server` processes on one data directory,
 * stopped with SIGTERM or killed with SIGKILL, then started again.
 */
describe('restarting the embedded server', () => {
  let dataDir: string;
  let configHome: string;
  let server: ServerProcess | undefined;

  const env = () => ({ JOBS_DATA_DIR: dataDir, XDG_CONFIG_HOME: configHome });
  const token = () => profileToken(configHome);

  afterEach(async () => {
    await server?.stop('SIGKILL');
    server = undefined;
    fs.rmSync(dataDir, { recursive: true, force: true });
    fs.rmSync(configHome, { recursive: true, force: true });
  });

  function fresh() {
    dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'jobs-restart-'));
    configHome = fs.mkdtempSync(path.join(os.tmpdir(), 'jobs-restart-cfg-'));
  }

  it('completes the jobs left PENDING when it stopped', async () => {
    fresh();
    server = await startServerProcess(env(), ['--no-worker']);
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) {
      const res = await api(server.url, token(), 'POST', '/api/jobs', {
        type: 'noop',
        params: { logLines: 3 },
      });
      expect(res.status).toBe(201);
      ids.push(res.body.id);
    }
    await new Promise((r) => setTimeout(r, 500));
    for (const id of ids)
      expect((await api(server.url, token(), 'GET', `/api/jobs/${id}`)).body.status).toBe('PENDING');
    expect(await server.stop('SIGTERM')).toBe(0);

    server = await startServerProcess(env());
    for (const id of ids) {
      const job = await waitForJob(server.url, token(), id);
      expect(job).toMatchObject({ status: 'COMPLETED', attempts: 1 });
    }
  }, 120_000);

  it('finishes a job whose server was killed mid-run, exactly once', async () => {
    fresh();
    server = await startServerProcess(env());
    const { body } = await api(server.url, token(), 'POST', '/api/jobs', {
      type: 'noop',
      params: { sleepMs: 3000 },
    });
    // Wait until the handler is running (its first log line is written), then pull the plug.
    for (;;) {
      const job = (await api(server.url, token(), 'GET', `/api/jobs/${body.id}`)).body;
      if (job.status === 'RUNNING') break;
      await new Promise((r) => setTimeout(r, 50));
    }
    await new Promise((r) => setTimeout(r, 500));
    await server.stop('SIGKILL');

    server = await startServerProcess(env());
    const job = await waitForJob(server.url, token(), body.id, 60_000);
    expect(job).toMatchObject({ status: 'COMPLETED', attempts: 2, result: { sleptMs: 3000, logLines: 0 } });
    const logs = (await api(server.url, token(), 'GET', `/api/jobs/${body.id}/logs`)).body.items as {
      message: string;
    }[];
    const messages = logs.map((l) => l.message);
    expect(messages.filter((m) => m.startsWith('attempt '))).toEqual([
      'attempt 1 of 3 started',
      'attempt 2 of 3 started',
    ]);
    // The handler ran to its end once: one completion, written by the second attempt.
    expect(messages.filter((m) => m.startsWith('completed in'))).toHaveLength(1);
    // No second copy of the message is left to run it again.
    await new Promise((r) => setTimeout(r, 1500));
    expect((await api(server.url, token(), 'GET', `/api/jobs/${body.id}`)).body.attempts).toBe(2);
  }, 120_000);

  it('refuses a second server on the same data directory', async () => {
    fresh();
    server = await startServerProcess(env());
    await expect(startServerProcess(env())).rejects.toThrow(/another jobs server \(pid \d+\) is using/);
  }, 120_000);
});
