import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from '@jest/globals';
import { api, waitForJob } from '../helpers/api-server.js';
import { until } from '../helpers/counting.js';
import { FileLatch, LATCH_HANDLER } from '../helpers/latch.js';
import { profileToken, type ServerProcess, startServerProcess } from '../helpers/server-process.js';

/**
 * Nothing is lost when the server stops: real `jobs server` processes on one data directory,
 * stopped with SIGTERM or killed with SIGKILL, then started again.
 */
describe('restarting the embedded server', () => {
  let dataDir: string;
  let configHome: string;
  let server: ServerProcess | undefined;

  const env = () => ({ JOBS_DATA_DIR: dataDir, XDG_CONFIG_HOME: configHome, JOBS_HANDLERS: LATCH_HANDLER });
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
    // A "nothing happens" check, so a pause is the point: a server without its worker leaves
    // the jobs PENDING for as long as it runs.
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
    const latch = new FileLatch(path.join(dataDir, 'latch'));
    server = await startServerProcess(env());
    const { body } = await api(server.url, token(), 'POST', '/api/jobs', {
      type: 'latch',
      params: latch.params(),
    });
    // Wait until the handler is running (held by its latch) and its first log line is written
    // (the log is buffered: a line still in the buffer dies with the process), then pull the plug.
    await latch.started(body.id);
    const url = server.url;
    await until(
      'the first log line',
      async () =>
        (await api(url, token(), 'GET', `/api/jobs/${body.id}/logs`)).body.items as { message: string }[],
      (items) => items.some((l) => l.message === 'attempt 1 of 3 started'),
    );
    const killed = server.child.pid;
    await server.stop('SIGKILL');

    latch.release(body.id); // the next run goes through
    server = await startServerProcess(env());
    const job = await waitForJob(server.url, token(), body.id, 60_000);
    expect(job).toMatchObject({
      status: 'COMPLETED',
      attempts: 2,
      result: { attempt: 2, pid: server.child.pid },
    });
    expect(latch.runs(body.id)).toEqual([
      { attempt: 1, pid: killed },
      { attempt: 2, pid: server.child.pid },
    ]);
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
    // No copy of its message is left (waiting or in flight) to run it again.
    const after = server.url;
    await until(
      'no queue message left',
      async () => {
        const text = await (await fetch(`${after}/metrics`)).text();
        return ['waiting', 'in_flight'].map(
          (st) => new RegExp(`^jobs_queue_messages\\{state="${st}"\\} (\\d+)$`, 'm').exec(text)?.[1],
        );
      },
      (counts) => counts.every((n) => n === '0'),
    );
    expect((await api(server.url, token(), 'GET', `/api/jobs/${body.id}`)).body.attempts).toBe(2);
    expect(latch.runs(body.id)).toHaveLength(2);
  }, 120_000);

  it('refuses a second server on the same data directory', async () => {
    fresh();
    server = await startServerProcess(env());
    await expect(startServerProcess(env())).rejects.toThrow(/another jobs server \(pid \d+\) is using/);
  }, 120_000);
});
