import type { ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { GetQueueAttributesCommand, ReceiveMessageCommand } from '@aws-sdk/client-sqs';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
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
 * A job that takes its worker down every time (here: the worker is SIGKILLed mid-job) ends FAILED,
 * with the reason in its error and logs, and its message in the dead-letter queue once the queue's
 * maxReceiveCount deliveries are spent. PostgreSQL + SQS (fauxqs) + `jobs worker` processes.
 */
const withPostgres = process.env.TEST_DATABASE_URL ? describe : describe.skip;
const MAX_RECEIVES = 3;

withPostgres('a job that kills its worker every time', () => {
  let emu: Emulator;
  let db: { url: string; drop: () => Promise<void> };
  let server: ServerProcess;
  let env: Record<string, string>;
  let queue: { url: string; dlqUrl: string };
  let configHome: string;
  let latch: FileLatch;
  const workers: ChildProcess[] = [];
  const token = () => profileToken(configHome);

  beforeAll(async () => {
    [emu, db] = await Promise.all([startEmulator(), createScratchDatabase()]);
    queue = await emu.createQueue('jobs', { maxReceiveCount: MAX_RECEIVES, visibilityTimeout: 2 });
    configHome = fs.mkdtempSync(path.join(os.tmpdir(), 'jobs-dlq-cfg-'));
    env = {
      ...sqsEnv(emu, queue),
      DATABASE_URL: db.url,
      JOBS_DATA_DIR: fs.mkdtempSync(path.join(os.tmpdir(), 'jobs-dlq-data-')),
      // The queue's settings, as a deployment sets both from one config.
      JOBS_VISIBILITY_TIMEOUT_SECONDS: '2',
      JOBS_MAX_RECEIVES: String(MAX_RECEIVES),
      // The `latch` type: its handler holds the job RUNNING until the test lets go (never, here).
      JOBS_HANDLERS: LATCH_HANDLER,
    };
    latch = new FileLatch(path.join(env.JOBS_DATA_DIR, 'latch'));
    server = await startServerProcess({ ...env, XDG_CONFIG_HOME: configHome }, ['--no-worker']);
  }, 120_000);

  afterAll(async () => {
    for (const w of workers) if (w.exitCode === null) w.kill('SIGKILL');
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

  async function job(id: string) {
    return (await api(server.url, token(), 'GET', `/api/jobs/${id}`)).body;
  }

  it('is FAILED with the reason, and its message is in the DLQ after maxReceiveCount', async () => {
    const { body } = await api(server.url, token(), 'POST', '/api/jobs', {
      type: 'latch',
      params: latch.params(),
    });
    // Every delivery but the last: the worker takes the job and dies with it (mid-handler). The
    // next worker is started (and waiting on the queue) before the kill, so the redelivery reaches
    // it as soon as the message is visible again: a worker still starting up on a loaded machine
    // would leave the job to the reaper, whose requeue is a fresh message (a different scenario).
    let worker = await startWorker();
    for (let attempt = 1; attempt < MAX_RECEIVES; attempt++) {
      const runs = await latch.started(body.id, { count: attempt });
      expect(runs.at(-1)).toEqual({ attempt, pid: worker.pid });
      const next = await startWorker();
      worker.kill('SIGKILL');
      worker = next;
    }
    // The last delivery finds a job whose every attempt died: it is given up on, not run again.
    const failed = await until(
      'FAILED',
      () => job(body.id),
      (j) => j.status === 'FAILED',
    );
    worker.kill('SIGTERM');
    const reason = `gave up after ${MAX_RECEIVES - 1} attempts: the worker stopped (crashed or was killed) during each of them`;
    expect(failed).toMatchObject({ error: reason, attempts: MAX_RECEIVES - 1 });
    const logs = (await api(server.url, token(), 'GET', `/api/jobs/${body.id}/logs`)).body.items;
    expect(logs.map((l: { message: string }) => l.message)).toContain(reason);

    const dead = await until(
      'the dead letter',
      async () =>
        (
          await emu.sqs.send(
            new ReceiveMessageCommand({
              QueueUrl: queue.dlqUrl,
              MaxNumberOfMessages: 10,
              WaitTimeSeconds: 1,
            }),
          )
        ).Messages ?? [],
      (m) => m.length > 0,
    );
    expect(dead.map((m) => JSON.parse(m.Body!).jobId)).toEqual([body.id]);
    const main = await emu.sqs.send(
      new GetQueueAttributesCommand({
        QueueUrl: queue.url,
        AttributeNames: ['ApproximateNumberOfMessages', 'ApproximateNumberOfMessagesNotVisible'],
      }),
    );
    expect(main.Attributes).toMatchObject({
      ApproximateNumberOfMessages: '0',
      ApproximateNumberOfMessagesNotVisible: '0',
    });
  }, 180_000);
});
