import type { ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ListObjectsV2Command } from '@aws-sdk/client-s3';
import { ReceiveMessageCommand } from '@aws-sdk/client-sqs';
import type { SQSRecord } from 'aws-lambda';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { api, waitForJob } from '../helpers/api-server.js';
import { ROOT, runCli } from '../cli/helpers/run-cli.js';
import { createScratchDatabase } from '../helpers/db.js';
import { sqsEnv, startEmulator, type Emulator } from '../helpers/fauxqs.js';
import { buildAndUnpackLambda, invokeLambda } from '../helpers/lambda.js';
import {
  profileToken,
  type ServerProcess,
  startServerProcess,
  startWorkerProcess,
} from '../helpers/server-process.js';

/**
 * The production path on one machine: PostgreSQL, and S3 + SQS served by fauxqs through the
 * real AWS SDK over HTTP. submit → object in the bucket → message → `jobs worker` (and again
 * with the bundled Lambda run by a plain node) → COMPLETED with logs.
 */
const withPostgres = process.env.TEST_DATABASE_URL ? describe : describe.skip;

withPostgres('the AWS pipeline (PostgreSQL + fauxqs S3/SQS)', () => {
  let emu: Emulator;
  let db: { url: string; drop: () => Promise<void> };
  let server: ServerProcess;
  let env: Record<string, string>;
  let configHome: string;
  let lambdaDir: string;
  const children: ChildProcess[] = [];
  const token = () => profileToken(configHome);

  beforeAll(async () => {
    [emu, db] = await Promise.all([startEmulator(), createScratchDatabase()]);
    await emu.createBucket('jobs-inputs');
    const queue = await emu.createQueue('jobs', { maxReceiveCount: 3 });
    configHome = fs.mkdtempSync(path.join(os.tmpdir(), 'jobs-aws-cfg-'));
    env = {
      ...sqsEnv(emu, queue),
      DATABASE_URL: db.url,
      JOBS_S3_BUCKET: 'jobs-inputs',
      JOBS_S3_ENDPOINT: emu.endpoint,
      JOBS_DATA_DIR: fs.mkdtempSync(path.join(os.tmpdir(), 'jobs-aws-data-')),
    };
    server = await startServerProcess({ ...env, XDG_CONFIG_HOME: configHome }, ['--no-worker']);
    lambdaDir = buildAndUnpackLambda();
  }, 120_000);

  afterAll(async () => {
    for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
    await server?.stop();
    await emu?.stop();
    await db?.drop();
    for (const d of [configHome, lambdaDir, env?.JOBS_DATA_DIR])
      if (d) fs.rmSync(d, { recursive: true, force: true });
  });

  async function submit(file: string, extraEnv: Record<string, string> = {}): Promise<string> {
    const r = await runCli(['submit', path.join(ROOT, file), '--type', 'csv-import', '--json'], {
      env: { XDG_CONFIG_HOME: configHome, ...extraEnv },
      timeoutMs: 60_000,
    });
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    return JSON.parse(r.stdout).id;
  }

  it('stores the upload in the bucket under the server-chosen key', async () => {
    const id = await submit('examples/orders.csv');
    const job = (await api(server.url, token(), 'GET', `/api/jobs/${id}`)).body;
    const listed = await emu.s3.send(new ListObjectsV2Command({ Bucket: 'jobs-inputs' }));
    expect(listed.Contents?.map((o) => [o.Key, o.Size])).toContainEqual([
      `inputs/${job.ownerId}/${id}`,
      fs.statSync(path.join(ROOT, 'examples/orders.csv')).size,
    ]);
  }, 60_000);

  it('uploads straight to the bucket through presigned part URLs (direct upload)', async () => {
    const id = await submit('examples/orders.csv', { JOBS_DIRECT_UPLOAD_THRESHOLD: '1' });
    const job = (await api(server.url, token(), 'GET', `/api/jobs/${id}`)).body;
    const size = fs.statSync(path.join(ROOT, 'examples/orders.csv')).size;
    expect(job.input).toMatchObject({ name: 'orders.csv', size });
    const listed = await emu.s3.send(new ListObjectsV2Command({ Bucket: 'jobs-inputs' }));
    const keys = (listed.Contents ?? []).map((o) => [o.Key, o.Size]);
    // Not under the job's id: the upload's own key, chosen by the server at POST /api/uploads.
    expect(keys.filter(([k]) => String(k).startsWith(`inputs/${job.ownerId}/`))).toHaveLength(2);
    expect(keys.some(([k, n]) => k !== `inputs/${job.ownerId}/${id}` && n === size)).toBe(true);
  }, 60_000);

  it('runs queued jobs with `jobs worker` fed by SQS', async () => {
    const id = await submit('examples/orders.csv');
    const worker = await startWorkerProcess(env);
    children.push(worker.child);
    // Both jobs submitted so far run (the first test's message waited in the queue).
    const job = await waitForJob(server.url, token(), id, 60_000);
    expect(job).toMatchObject({ status: 'COMPLETED', result: { rows: 200, valid: 200, invalid: 0 } });
    const logs = (await api(server.url, token(), 'GET', `/api/jobs/${id}/logs`)).body.items;
    expect(logs.map((l: { message: string }) => l.message)).toContain(
      'checked orders.csv: 200 rows, 200 valid, 0 invalid',
    );
    const all = (await api(server.url, token(), 'GET', '/api/jobs')).body.items;
    for (const j of all)
      expect((await waitForJob(server.url, token(), j.id, 60_000)).status).toBe('COMPLETED');
    expect(await worker.stop('SIGTERM')).toBe(0);
  }, 120_000);

  it('runs a job with the bundled Lambda, from an SQSEvent of the received messages', async () => {
    const id = await submit('examples/orders-bad-rows.csv');
    let records: SQSRecord[] = [];
    for (let i = 0; i < 20 && records.length === 0; i++) {
      const got = await emu.sqs.send(
        new ReceiveMessageCommand({
          QueueUrl: env.JOBS_SQS_QUEUE_URL,
          MaxNumberOfMessages: 10,
          WaitTimeSeconds: 1,
          MessageSystemAttributeNames: ['All'],
        }),
      );
      records = (got.Messages ?? []).map((m) => ({
        messageId: m.MessageId!,
        receiptHandle: m.ReceiptHandle!,
        body: m.Body!,
        attributes: m.Attributes as SQSRecord['attributes'],
        messageAttributes: {},
        md5OfBody: m.MD5OfBody!,
        eventSource: 'aws:sqs',
        eventSourceARN: 'arn:aws:sqs:us-east-1:000000000000:jobs',
        awsRegion: 'us-east-1',
      }));
    }
    expect(records.map((r) => JSON.parse(r.body).jobId)).toEqual([id]);
    const lambdaEnv = Object.fromEntries(Object.entries(env).filter(([k]) => k !== 'JOBS_DATA_DIR'));
    const res = await invokeLambda(lambdaDir, { Records: records }, lambdaEnv);
    // (stderr may carry the AWS SDK's Node-version notice on Node 20; no error may be logged.)
    expect(res.err).not.toMatch(/"level":(50|60)/);
    expect(JSON.parse(res.out)).toEqual({ batchItemFailures: [] });
    const job = (await api(server.url, token(), 'GET', `/api/jobs/${id}`)).body;
    // The bad-rows sample fails validation: a FAILED job is a handled outcome, not a batch failure.
    expect(job).toMatchObject({ status: 'FAILED', error: '1 bad row exceeds maxErrors=0', attempts: 1 });
  }, 120_000);
});
