import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { GetQueueAttributesCommand, SendMessageCommand } from '@aws-sdk/client-sqs';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import pg from 'pg';
import { api } from '../helpers/api-server.js';
import { COUNTING_BIN, readRuns, until } from '../helpers/counting.js';
import { createScratchDatabase } from '../helpers/db.js';
import { EMULATOR_ENV, startEmulator, type Emulator } from '../helpers/fauxqs.js';
import { FileLatch } from '../helpers/latch.js';
import {
  type CliProcess,
  profileToken,
  type ServerProcess,
  startServerProcess,
  startWorkerProcess,
} from '../helpers/server-process.js';

/**
 * Issue 5, criterion 2, across processes: one job's message is in the queue three times (as an
 * outbox relay that crashed after publishing, or a queue's own at-least-once delivery, would leave
 * it), and three `jobs worker` processes receive the copies while the job runs. Its handler runs
 * once; the copies are set aside while it runs and acknowledged once it is COMPLETED, each with a
 * "duplicate delivery ignored" line in the job's log. (test/processor/duplicate-delivery.test.ts
 * does the same to one processor in-process, on PGlite and PostgreSQL.)
 */
const withPostgres = process.env.TEST_DATABASE_URL ? describe : describe.skip;

withPostgres.each(['database', 'sqs'] as const)(
  'one message delivered three times at once (queue: %s)',
  (queue) => {
    const configHome = fs.mkdtempSync(path.join(os.tmpdir(), 'jobs-dup-cfg-'));
    const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'jobs-dup-data-'));
    const counter = path.join(dataDir, 'runs');
    const latch = new FileLatch(path.join(dataDir, 'latch'));
    let db: { url: string; drop: () => Promise<void> };
    let emu: Emulator | undefined;
    let queueUrl = '';
    let server: ServerProcess;
    const workers: CliProcess[] = [];

    beforeAll(async () => {
      db = await createScratchDatabase();
      const env: Record<string, string> = { DATABASE_URL: db.url, JOBS_DATA_DIR: dataDir };
      if (queue === 'sqs') {
        emu = await startEmulator();
        queueUrl = (await emu.createQueue('jobs')).url;
        Object.assign(env, EMULATOR_ENV, { JOBS_SQS_QUEUE_URL: queueUrl, JOBS_SQS_ENDPOINT: emu.endpoint });
      }
      server = await startServerProcess(
        { ...env, XDG_CONFIG_HOME: configHome },
        ['--no-worker'],
        COUNTING_BIN,
      );
      for (let i = 0; i < 3; i++)
        workers.push(await startWorkerProcess(env, ['--concurrency', '1'], COUNTING_BIN));
    }, 180_000);

    afterAll(async () => {
      for (const w of workers) await w.stop('SIGTERM');
      await server?.stop();
      await emu?.stop();
      await db?.drop();
      fs.rmSync(dataDir, { recursive: true, force: true });
      fs.rmSync(configHome, { recursive: true, force: true });
    }, 60_000);

    /** Queues two more copies of the job's message. */
    async function duplicate(jobId: string): Promise<void> {
      if (emu) {
        for (let i = 0; i < 2; i++)
          await emu.sqs.send(
            new SendMessageCommand({ QueueUrl: queueUrl, MessageBody: JSON.stringify({ jobId }) }),
          );
        return;
      }
      const c = new pg.Client({ connectionString: db.url });
      await c.connect();
      await c.query(`INSERT INTO queue_messages (job_id) VALUES ($1::uuid), ($1::uuid)`, [jobId]);
      await c.query(`SELECT pg_notify('jobs_queue', '')`);
      await c.end();
    }

    /** Messages left in the queue, visible or not. */
    async function left(): Promise<number> {
      if (emu) {
        const a = await emu.sqs.send(
          new GetQueueAttributesCommand({
            QueueUrl: queueUrl,
            AttributeNames: ['ApproximateNumberOfMessages', 'ApproximateNumberOfMessagesNotVisible'],
          }),
        );
        return (
          Number(a.Attributes!.ApproximateNumberOfMessages) +
          Number(a.Attributes!.ApproximateNumberOfMessagesNotVisible)
        );
      }
      const c = new pg.Client({ connectionString: db.url });
      await c.connect();
      const n = (await c.query<{ n: number }>('SELECT count(*)::int AS n FROM queue_messages')).rows[0].n;
      await c.end();
      return n;
    }

    it('runs the job once and acknowledges the two copies', async () => {
      const token = profileToken(configHome);
      const { body } = await api(server.url, token, 'POST', '/api/jobs', {
        type: 'count',
        // Its handler waits on the latch: the job stays RUNNING until the copies were set aside.
        params: { file: counter, latch: latch.dir },
      });
      await duplicate(body.id);
      const logs = async () =>
        (await api(server.url, token, 'GET', `/api/jobs/${body.id}/logs`)).body.items.map(
          (l: { message: string }) => l.message,
        ) as string[];
      // The copies reach the other workers while the first one runs the job.
      await until(
        'both copies to be set aside',
        logs,
        (l) => l.filter((m) => m === 'duplicate delivery ignored (job is RUNNING)').length === 2,
      );
      latch.release(body.id);
      // …and are acknowledged once it has finished (after the retry delay).
      await until('the queue to be empty', left, (n) => n === 0, 120_000);
      const job = (await api(server.url, token, 'GET', `/api/jobs/${body.id}`)).body;
      expect(job).toMatchObject({ status: 'COMPLETED', attempts: 1 });
      expect(readRuns(counter).map((r) => `${r.event} ${r.attempt}`)).toEqual(['start 1', 'done 1']);
      const lines = await logs();
      expect(lines.filter((m) => m.startsWith('attempt '))).toEqual(['attempt 1 of 10 started']);
      expect(lines.filter((m) => m === 'duplicate delivery ignored (job is COMPLETED)')).toHaveLength(2);
    }, 240_000);
  },
);
