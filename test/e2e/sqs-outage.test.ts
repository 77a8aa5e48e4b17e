import type { ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { GetQueueAttributesCommand } from '@aws-sdk/client-sqs';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import pg from 'pg';
import { api, waitForJob } from '../helpers/api-server.js';
import { until } from '../helpers/counting.js';
import { createScratchDatabase } from '../helpers/db.js';
import { EMULATOR_ENV, startEmulator, type Emulator } from '../helpers/fauxqs.js';
import { profileToken, type ServerProcess, startServerProcess } from '../helpers/server-process.js';
import { runCli } from '../cli/helpers/run-cli.js';

/**
 * An SQS outage during submit: the job is accepted and stays PENDING, and once SQS is back it is
 * queued (from the outbox) and completed, with no second copy of its message.
 * PostgreSQL for the database, SQS from fauxqs, input files in the data directory.
 */
const withPostgres = process.env.TEST_DATABASE_URL ? describe : describe.skip;

withPostgres('an SQS outage during submit', () => {
  let emu: Emulator | undefined;
  let db: { url: string; drop: () => Promise<void> };
  let server: ServerProcess;
  let env: Record<string, string>;
  let configHome: string;
  let dataDir: string;
  const token = () => profileToken(configHome);

  beforeAll(async () => {
    [emu, db] = await Promise.all([startEmulator(), createScratchDatabase()]);
    const queue = await emu.createQueue('jobs');
    configHome = fs.mkdtempSync(path.join(os.tmpdir(), 'jobs-outage-cfg-'));
    dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'jobs-outage-data-'));
    env = {
      ...EMULATOR_ENV,
      DATABASE_URL: db.url,
      JOBS_SQS_QUEUE_URL: queue.url,
      JOBS_SQS_ENDPOINT: emu.endpoint,
      JOBS_DATA_DIR: dataDir,
      JOBS_ENABLE_NOOP: 'true', // off by default on SQS; this test submits a noop
    };
    server = await startServerProcess({ ...env, XDG_CONFIG_HOME: configHome }, ['--no-worker']);
  }, 120_000);

  afterAll(async () => {
    await server?.stop();
    await emu?.stop();
    await db?.drop();
    for (const d of [configHome, dataDir]) if (d) fs.rmSync(d, { recursive: true, force: true });
  });

  it('keeps the job PENDING while SQS is down and completes it once, after SQS is back', async () => {
    const port = emu!.port;
    await emu!.stop();
    emu = undefined;

    const submitted = await api(server.url, token(), 'POST', '/api/jobs', {
      type: 'noop',
      params: { logLines: 1 },
    });
    expect(submitted.status).toBe(201);
    const id = submitted.body.id;
    // The relay tries, and fails (its warning on the server's stderr).
    await server.waitForStderr(/outbox: publish failed; will retry/);
    expect((await api(server.url, token(), 'GET', `/api/jobs/${id}`)).body.status).toBe('PENDING');

    // SQS is back at the same address (an emulator keeps no state: the queue is created again).
    emu = await startEmulator({ port });
    const queue = await emu.createQueue('jobs');
    expect(queue.url).toBe(env.JOBS_SQS_QUEUE_URL);

    // The outbox relay publishes it and then deletes its outbox row: once the outbox is empty,
    // nothing can publish a second copy. Then count: exactly one.
    const sqs = emu.sqs;
    await until(
      'the message in SQS',
      async () =>
        (
          await sqs.send(
            new GetQueueAttributesCommand({
              QueueUrl: queue.url,
              AttributeNames: ['ApproximateNumberOfMessages'],
            }),
          )
        ).Attributes?.ApproximateNumberOfMessages,
      (n) => Number(n ?? 0) > 0,
    );
    const c = new pg.Client({ connectionString: db.url });
    await c.connect();
    try {
      await until(
        'the outbox to empty',
        async () => (await c.query<{ n: number }>('SELECT count(*)::int AS n FROM job_outbox')).rows[0].n,
        (n) => n === 0,
      );
    } finally {
      await c.end();
    }
    const a = await emu.sqs.send(
      new GetQueueAttributesCommand({ QueueUrl: queue.url, AttributeNames: ['ApproximateNumberOfMessages'] }),
    );
    expect(Number(a.Attributes?.ApproximateNumberOfMessages)).toBe(1);

    let workerProcess: ChildProcess | undefined;
    const worker = runCli(['worker'], {
      env: { ...env, JOBS_LOG_LEVEL: 'warn' },
      timeoutMs: 90_000,
      onSpawn: (child) => (workerProcess = child),
    });
    const job = await waitForJob(server.url, token(), id, 60_000);
    expect(job).toMatchObject({ status: 'COMPLETED', attempts: 1 });
    const after = await emu.sqs.send(
      new GetQueueAttributesCommand({
        QueueUrl: queue.url,
        AttributeNames: ['ApproximateNumberOfMessages', 'ApproximateNumberOfMessagesNotVisible'],
      }),
    );
    expect(after.Attributes).toMatchObject({
      ApproximateNumberOfMessages: '0',
      ApproximateNumberOfMessagesNotVisible: '0',
    });
    workerProcess!.kill('SIGTERM');
    expect((await worker).code).toBe(0);
  }, 150_000);
});
