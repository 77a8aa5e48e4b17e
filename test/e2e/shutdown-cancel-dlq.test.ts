import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from '@jest/globals';
import { runCli } from '../cli/helpers/run-cli.js';
import { api, waitForJob } from '../helpers/api-server.js';
import { FileLatch, LATCH_HANDLER } from '../helpers/latch.js';
import { profileToken, type ServerProcess, startServerProcess } from '../helpers/server-process.js';

/**
 * Real `jobs server` processes on an embedded data directory, driven by the real CLI: graceful
 * shutdown with --grace, cancel of a running job, and a job given up on after a crash, listed and
 * redriven with `jobs dlq`.
 */
describe('embedded server: shutdown, cancel, dead letters', () => {
  let dataDir: string;
  let configHome: string;
  let server: ServerProcess | undefined;
  let latch: FileLatch;

  // The `latch` type (test/fixtures/latch-handler.mjs) holds a job RUNNING until the test lets go.
  const env = () => ({ JOBS_DATA_DIR: dataDir, XDG_CONFIG_HOME: configHome, JOBS_HANDLERS: LATCH_HANDLER });
  const token = () => profileToken(configHome);
  const cli = (args: string[]) => runCli(args, { env: { XDG_CONFIG_HOME: configHome } });
  const job = async (id: string) => (await api(server!.url, token(), 'GET', `/api/jobs/${id}`)).body;
  const logs = async (id: string): Promise<string[]> =>
    (await api(server!.url, token(), 'GET', `/api/jobs/${id}/logs`)).body.items.map(
      (l: { message: string }) => l.message,
    );

  afterEach(async () => {
    await server?.stop('SIGKILL');
    server = undefined;
    fs.rmSync(dataDir, { recursive: true, force: true });
    fs.rmSync(configHome, { recursive: true, force: true });
  });

  function fresh() {
    dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'jobs-shutdown-'));
    configHome = fs.mkdtempSync(path.join(os.tmpdir(), 'jobs-shutdown-cfg-'));
    latch = new FileLatch(path.join(dataDir, 'latch'));
  }

  async function until(what: string, check: () => Promise<boolean>, ms = 60_000): Promise<void> {
    const deadline = Date.now() + ms;
    while (!(await check())) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  /** Submits a `latch` job with the CLI and resolves once its handler is running (held). */
  async function submitRunning(extra: string[] = []): Promise<string> {
    const sub = await cli([
      'submit',
      '--type',
      'latch',
      '--params-json',
      JSON.stringify(latch.params()),
      ...extra,
      '--json',
    ]);
    expect(sub.code).toBe(0);
    const { id } = JSON.parse(sub.stdout);
    await latch.started(id);
    return id;
  }

  it('SIGTERM stops taking work and lets a running job finish within --grace, then exits 0', async () => {
    fresh();
    server = await startServerProcess(env(), ['--grace', '30', '--concurrency', '1']);
    const id = await submitRunning();
    // Waiting behind it (one slot): a stopping server must not take it.
    const waiting = (await api(server.url, token(), 'POST', '/api/jobs', { type: 'noop' })).body.id;
    const stopped = server.stop('SIGTERM', 60_000);
    // The running job finishes only once the server is stopping, inside its grace period.
    await server.waitForStderr(/SIGTERM received, shutting down/);
    const t0 = Date.now();
    latch.release(id);
    expect(await stopped).toBe(0);
    const stoppedMs = Date.now() - t0;
    process.stderr.write(
      `[figure] server SIGTERM, running job let go once stopping: exited 0 ${stoppedMs} ms after its release\n`,
    );

    server = await startServerProcess(env(), ['--no-worker']);
    expect(await job(id)).toMatchObject({ status: 'COMPLETED', attempts: 1 });
    expect((await logs(id)).filter((l) => l.startsWith('completed in'))).toHaveLength(1);
    expect(await job(waiting)).toMatchObject({ status: 'PENDING', attempts: 0 });
    expect(await logs(waiting)).toEqual([]);
  }, 180_000);

  it('past --grace a running job is released (not counted as an attempt) and runs on the next start', async () => {
    fresh();
    server = await startServerProcess(env(), ['--grace', '1']);
    // Held by its latch (never released), the job cannot finish: only the grace period ends it.
    const id = await submitRunning();
    const t0 = Date.now();
    expect(await server.stop('SIGTERM', 60_000)).toBe(0);
    const stoppedMs = Date.now() - t0;
    process.stderr.write(
      `[figure] server SIGTERM --grace 1 with a job that never ends: exited 0 after ${stoppedMs} ms\n`,
    );
    // Well under the default grace (10 s): --grace 1 is the one that was applied.
    expect(stoppedMs).toBeLessThan(9_000);

    server = await startServerProcess(env(), ['--no-worker']);
    expect(await job(id)).toMatchObject({ status: 'PENDING', attempts: 0 });
    expect(await logs(id)).toContain(
      'attempt 1 interrupted: the worker is stopping; the job goes back in line',
    );
    await server.stop('SIGTERM');

    latch.release(id);
    server = await startServerProcess(env());
    expect(await waitForJob(server.url, token(), id, 60_000)).toMatchObject({
      status: 'COMPLETED',
      attempts: 1,
    });
  }, 180_000);

  it('jobs cancel stops a running job within 2 s; jobs retry runs it again', async () => {
    fresh();
    server = await startServerProcess(env());
    const id = await submitRunning(['--max-attempts', '5']);
    expect((await job(id)).maxAttempts).toBe(5);

    const t0 = Date.now();
    const cancel = await cli(['cancel', id]);
    const cliMs = Date.now() - t0;
    expect(cancel.code).toBe(0);
    expect(cancel.stdout.trim()).toBe(`Job ${id} CANCELLED`);
    // The command answers once the handler has stopped and CANCELLED is written.
    expect(await logs(id)).toContain('stopped: the job was cancelled');
    const cancelled = await job(id);
    expect(cancelled.status).toBe('CANCELLED');
    // "CANCELLED within 2 s", measured by the server's clock from the request to CANCELLED,
    // without the CLI's own start-up (several seconds on a loaded machine).
    const serverMs = Date.parse(cancelled.finishedAt) - Date.parse(cancelled.cancelRequestedAt);
    process.stderr.write(
      `[figure] e2e: jobs cancel → CANCELLED in ${serverMs} ms at the server (${cliMs} ms with the CLI's start-up)\n`,
    );
    expect(serverMs).toBeLessThan(2_000);
    expect((await cli(['cancel', id])).code).toBe(1);

    const retry = await cli(['retry', id, '--json']);
    expect(retry.code).toBe(0);
    expect(['PENDING', 'RUNNING']).toContain(JSON.parse(retry.stdout).status);
    await latch.started(id, { count: 2 }); // running again
    expect((await cli(['cancel', id])).code).toBe(0);
  }, 180_000);

  it('a job whose worker died on its last attempt is dead-lettered; jobs dlq redrive runs it again', async () => {
    fresh();
    server = await startServerProcess(env());
    const id = await submitRunning(['--max-attempts', '1']);
    await server.stop('SIGKILL');
    latch.release(id); // from now on its runs go straight through

    // The restart finds the job's lease and message abandoned; with no attempt left it gives up.
    server = await startServerProcess(env());
    const reason = 'gave up after 1 attempt: the worker stopped (crashed or was killed) during each of them';
    await until('FAILED', async () => (await job(id)).status === 'FAILED');
    expect(await job(id)).toMatchObject({ status: 'FAILED', attempts: 1, error: reason });

    const list = await cli(['dlq', 'list', '--json']);
    expect(list.code).toBe(0);
    expect(JSON.parse(list.stdout)).toMatchObject({
      total: 1,
      queueDeadLetters: 1,
      items: [{ id, status: 'FAILED', error: reason }],
    });
    const table = await cli(['dlq', 'list']);
    expect(table.stdout).toContain(id);

    const redrive = await cli(['dlq', 'redrive']);
    expect(redrive.code).toBe(0);
    expect(redrive.stdout.trim()).toBe(id);
    // Its dead-letter row was dropped: the job got a fresh message.
    expect(redrive.stderr).toContain(
      'Requeued 1 job(s); moved 0 dead-letter message(s) back to the queue, dropped 1.',
    );
    expect(await waitForJob(server.url, token(), id, 60_000)).toMatchObject({
      status: 'COMPLETED',
      attempts: 1,
    });
    expect(JSON.parse((await cli(['dlq', 'list', '--json'])).stdout)).toMatchObject({
      total: 0,
      queueDeadLetters: 0,
    });
  }, 180_000);
});
