import type { ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { PurgeQueueCommand } from '@aws-sdk/client-sqs';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import pg from 'pg';
import { api } from '../helpers/api-server.js';
import { until } from '../helpers/counting.js';
import { createScratchDatabase } from '../helpers/db.js';
import { sqsEnv, startEmulator, type Emulator } from '../helpers/fauxqs.js';
import { FileLatch, LATCH_HANDLER } from '../helpers/latch.js';
import {
  profileToken,
  type ServerProcess,
  startServerProcess,
  startWorkerProcess,
} from '../helpers/server-process.js';

/**
 * Issue 5, criterion 4: a handler that hangs. Each `jobs worker` that takes the job is frozen
 * (SIGSTOP: the process is stuck, its heartbeat stops, nothing runs), so the job's lease expires;
 * another worker retries it, and once maxAttempts are used up the job is FAILED with the reason in
 * its error and logs. Thawed afterwards, the stale workers cannot overwrite the outcome.
 * PostgreSQL, with the database queue and with SQS (fauxqs).
 */
const withPostgres = process.env.TEST_DATABASE_URL ? describe : describe.skip;
const LEASE_SECONDS = 2;
const MAX_ATTEMPTS = 2;

withPostgres.each(['database', 'sqs'] as const)('a hung handler (%s queue)', (queueKind) => {
  let emu: Emulator | undefined;
  let db: { url: string; drop: () => Promise<void> };
  let server: ServerProcess;
  let env: Record<string, string>;
  let configHome: string;
  let queueUrl: string | undefined;
  let latch: FileLatch;
  const workers: ChildProcess[] = [];
  const token = () => profileToken(configHome);

  beforeAll(async () => {
    db = await createScratchDatabase();
    configHome = fs.mkdtempSync(path.join(os.tmpdir(), 'jobs-hang-cfg-'));
    env = {
      DATABASE_URL: db.url,
      JOBS_DATA_DIR: fs.mkdtempSync(path.join(os.tmpdir(), 'jobs-hang-data-')),
      JOBS_VISIBILITY_TIMEOUT_SECONDS: String(LEASE_SECONDS),
      // More receives than attempts: giving up is the job's maxAttempts, not the queue's.
      JOBS_MAX_RECEIVES: '10',
      // The `latch` type: its handler holds the job RUNNING until the test lets go.
      JOBS_HANDLERS: LATCH_HANDLER,
    };
    latch = new FileLatch(path.join(env.JOBS_DATA_DIR, 'latch'));
    if (queueKind === 'sqs') {
      emu = await startEmulator();
      const queue = await emu.createQueue('jobs', { maxReceiveCount: 10, visibilityTimeout: LEASE_SECONDS });
      queueUrl = queue.url;
      Object.assign(env, sqsEnv(emu, queue));
    }
    server = await startServerProcess({ ...env, XDG_CONFIG_HOME: configHome }, ['--no-worker']);
  }, 120_000);

  afterAll(async () => {
    for (const w of workers) if (w.exitCode === null && w.signalCode === null) w.kill('SIGKILL');
    await server?.stop();
    await emu?.stop();
    await db?.drop();
    for (const d of [configHome, env?.JOBS_DATA_DIR]) if (d) fs.rmSync(d, { recursive: true, force: true });
  });

  async function startWorker(): Promise<ChildProcess> {
    const w = await startWorkerProcess(env, ['--concurrency', '1']);
    workers.push(w.child);
    return w.child;
  }

  const job = async (id: string) => (await api(server.url, token(), 'GET', `/api/jobs/${id}`)).body;
  const logs = async (id: string): Promise<string[]> =>
    (await api(server.url, token(), 'GET', `/api/jobs/${id}/logs`)).body.items.map(
      (l: { message: string }) => l.message,
    );

  it('lease expires, it is retried, and after maxAttempts it is FAILED with the reason; redrive runs it again', async () => {
    const { body } = await api(server.url, token(), 'POST', '/api/jobs', {
      type: 'latch',
      params: latch.params(),
      maxAttempts: MAX_ATTEMPTS,
    });
    expect(body.maxAttempts).toBe(MAX_ATTEMPTS);
    const started = Date.now();
    const frozen: ChildProcess[] = [];
    for (let attempt = 1; attempt <= MAX_ATTEMPTS; attempt++) {
      const worker = await startWorker();
      // Its handler is running (held by the latch) …
      expect((await latch.started(body.id, { count: attempt })).at(-1)).toEqual({ attempt, pid: worker.pid });
      // … and its start line has landed: freeze it mid-handler.
      await until(
        `attempt ${attempt}'s start line`,
        () => logs(body.id),
        (l) => l.includes(`attempt ${attempt} of ${MAX_ATTEMPTS} started`),
      );
      worker.kill('SIGSTOP');
      frozen.push(worker);
    }
    // A healthy worker finds the last attempt's lease expired too, and gives up.
    const last = await startWorker();
    const failed = await until(
      'FAILED',
      () => job(body.id),
      (j) => j.status === 'FAILED',
    );
    const elapsed = Date.now() - started;
    process.stderr.write(
      `[figure] ${queueKind}: hung handler, lease ${LEASE_SECONDS} s, maxAttempts ${MAX_ATTEMPTS}: FAILED after ${elapsed} ms\n`,
    );
    const reason = `gave up after ${MAX_ATTEMPTS} attempts: the worker stopped (crashed or was killed) during each of them`;
    expect(failed).toMatchObject({ status: 'FAILED', attempts: MAX_ATTEMPTS, error: reason });
    const lines = await logs(body.id);
    expect(lines).toContain(reason);
    // The retry said why it happened (the claim of the redelivered message, or the reaper).
    expect(lines.some((l) => /^lease of attempt 1 expired .*attempt 2 of 2/.test(l))).toBe(true);
    expect(lines.filter((l) => /^attempt \d of 2 started$/.test(l))).toEqual([
      'attempt 1 of 2 started',
      'attempt 2 of 2 started',
    ]);

    // Thawed, the stale workers find their lease gone: they stop, and write nothing over it.
    for (const w of frozen) w.kill('SIGCONT');
    await until(
      'the stale attempts to notice',
      () => logs(body.id),
      (l) => l.filter((m) => m === 'stopped: the lease was lost (the job is FAILED)').length === MAX_ATTEMPTS,
    );
    // A "nothing happens" check, so a pause is the point: having stopped, they write nothing later.
    await new Promise((r) => setTimeout(r, 1_500));
    expect(await job(body.id)).toMatchObject({ status: 'FAILED', attempts: MAX_ATTEMPTS, error: reason });
    expect((await logs(body.id)).some((l) => l.startsWith('completed in'))).toBe(false);

    // It is a dead letter now (its message too: the DLQ, or the dead-letter row).
    const dlq = await api(server.url, token(), 'GET', '/api/dlq');
    expect(dlq.body.items.map((j: { id: string }) => j.id)).toEqual([body.id]);
    await until(
      'the dead-letter message',
      async () => (await api(server.url, token(), 'GET', '/api/dlq')).body.queueDeadLetters,
      (n) => n === 1,
    );

    // Redriven, it runs again (with fresh attempts), and the old dead letter is dropped.
    const redrive = await api(server.url, token(), 'POST', '/api/dlq/redrive');
    expect(redrive.body).toEqual({ requeued: [body.id], movedMessages: 0, droppedMessages: 1 });
    await latch.started(body.id, { count: MAX_ATTEMPTS + 1 });
    expect(await job(body.id)).toMatchObject({ status: 'RUNNING', attempts: 1 });
    expect((await logs(body.id)).filter((l) => l === 'attempt 1 of 2 started')).toHaveLength(2);
    expect((await api(server.url, token(), 'GET', '/api/dlq')).body).toMatchObject({
      total: 0,
      queueDeadLetters: 0,
    });
    // Cancelled, it is CANCELLED (its handler stopped) within 2 s here too: the answer comes once
    // the worker process wrote it; measured by the database's clock, request to CANCELLED.
    const t0 = Date.now();
    const cancel = await api(server.url, token(), 'POST', `/api/jobs/${body.id}/cancel`);
    const answeredMs = Date.now() - t0;
    expect([cancel.status, cancel.body.status]).toEqual([200, 'CANCELLED']);
    expect(await logs(body.id)).toContain('stopped: the job was cancelled');
    const serverMs = Date.parse(cancel.body.finishedAt) - Date.parse(cancel.body.cancelRequestedAt);
    process.stderr.write(
      `[figure] ${queueKind}: cancel → CANCELLED in ${serverMs} ms at the database (answered in ${answeredMs} ms)\n`,
    );
    expect(serverMs).toBeLessThan(2_000);

    for (const w of [...frozen, last]) w.kill('SIGTERM');
  }, 180_000);

  it('the reaper requeues a job whose worker hung and whose message is gone, and it completes', async () => {
    const { body } = await api(server.url, token(), 'POST', '/api/jobs', {
      type: 'latch',
      params: latch.params(),
    });
    const stuck = await startWorker();
    await latch.started(body.id); // mid-handler: it cannot finish before the freeze
    stuck.kill('SIGSTOP');
    // The message is lost (purged, expired, deleted by hand): only the reaper can save the job.
    if (emu) await emu.sqs.send(new PurgeQueueCommand({ QueueUrl: queueUrl }));
    else {
      const c = new pg.Client({ connectionString: db.url });
      await c.connect();
      await c.query('DELETE FROM queue_messages');
      await c.end();
    }
    // The API server (--no-worker) runs the reaper too: with no worker alive, it requeues the job.
    const requeued = await until(
      'the reaper',
      () => job(body.id),
      (j) => j.status === 'PENDING',
    );
    expect(requeued.attempts).toBe(1);
    latch.release(body.id); // the next run goes through
    const started = Date.now();
    const healthy = await startWorker();
    const done = await until(
      'COMPLETED',
      () => job(body.id),
      (j) => j.status === 'COMPLETED',
    );
    process.stderr.write(
      `[figure] ${queueKind}: message gone, reaper requeued and the job completed ${Date.now() - started} ms after a healthy worker started\n`,
    );
    expect(done.attempts).toBe(2);
    const lines = await logs(body.id);
    expect(lines).toContain(
      'lease of attempt 1 expired (its worker stopped, hung or was cut off, and its message is gone); requeued, attempt 2 of 3 next',
    );
    expect(lines.filter((l) => l.startsWith('completed in'))).toHaveLength(1);
    stuck.kill('SIGKILL');
    healthy.kill('SIGTERM');
  }, 180_000);
});
