import { spawnSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { FsBlobStore } from '../../core/blobs/fs-blob-store.js';
import { inputKey } from '../../core/blobs/blob-store.js';
import { DbQueue } from '../../core/queue/db-queue.js';
import { toRecord } from '../../processor/queue-worker.js';
import { SCHEDULE_TICK_EVENT } from '../../processor/tick-event.js';
import { openTestDatabase, type TestDatabase } from '../helpers/db.js';
import { startReceiver } from '../core/webhooks/receiver.js';
import { buildAndUnpackLambda, foreignBundleFiles, invokeLambda } from '../helpers/lambda.js';
import { Readable } from 'node:stream';

/**
 * The Lambda zip is self-contained: unpacked into an empty directory (no node_modules anywhere
 * above it) and run by a plain `node`, it handles an SQSEvent built from received messages.
 * Needs PostgreSQL (Lambda has no embedded database): runs when TEST_DATABASE_URL is set.
 */
const withPostgres = process.env.TEST_DATABASE_URL ? describe : describe.skip;

withPostgres('the bundled processor Lambda', () => {
  let t: TestDatabase;
  let dir: string;
  let dataDir: string;
  const ownerId = randomUUID();

  beforeAll(async () => {
    dir = buildAndUnpackLambda();
    dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'jobs-lambda-data-'));
    t = await openTestDatabase('postgres');
    await t.db.prisma.user.create({ data: { id: ownerId, name: 'lambda-owner' } });
  }, 120_000);

  afterAll(async () => {
    await t?.close();
    fs.rmSync(dir, { recursive: true, force: true });
    fs.rmSync(dataDir, { recursive: true, force: true });
  });

  const invoke = (event: unknown) =>
    invokeLambda(dir, event, { DATABASE_URL: t.url!, JOBS_DATA_DIR: dataDir });

  it('contains the handler, its chunks and the query compiler, and no node_modules', () => {
    expect(fs.readdirSync(dir)).toEqual(expect.arrayContaining(['index.mjs', 'query_compiler_bg.wasm']));
    expect(foreignBundleFiles(dir)).toEqual([]);
    let up = dir;
    while (path.dirname(up) !== up) {
      expect(fs.existsSync(path.join(up, 'node_modules'))).toBe(false);
      up = path.dirname(up);
    }
  });

  it('runs jobs from an SQSEvent of received messages and reports partial failures', async () => {
    const queue = new DbQueue(t.db, { visibilityTimeoutSeconds: 30, maxReceives: 5 });
    const noopId = randomUUID();
    const csvId = randomUUID();
    const blobs = new FsBlobStore(path.join(dataDir, 'blobs'));
    const csv = 'id,name\n1,ada\n2,grace\n';
    const stored = await blobs.put(inputKey(ownerId, csvId), Readable.from([csv]), { maxBytes: 1024 });
    await t.db.prisma.job.createMany({
      data: [
        { id: noopId, type: 'noop', ownerId, params: { logLines: 3 } },
        {
          id: csvId,
          type: 'csv-import',
          ownerId,
          params: { types: { id: 'integer' } },
          inputKey: inputKey(ownerId, csvId),
          inputName: 'people.csv',
          inputSize: BigInt(stored.size),
          inputSha256: stored.sha256,
        },
      ],
    });
    await queue.send(noopId);
    await queue.send(csvId);
    const messages = await queue.receive({ max: 10, waitMs: 1000 });
    expect(messages).toHaveLength(2);
    const records = messages.map(toRecord);
    // A malformed record is dropped without failing the others.
    const res = await invoke({
      Records: [...records, { ...records[0], messageId: 'bad', body: 'not json' }],
    });
    expect(res.code).toBe(0);
    const logged = res.err
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l).msg);
    expect(logged).toEqual(['malformed job message; dropped']);
    expect(JSON.parse(res.out)).toEqual({ batchItemFailures: [] });
    const jobs = await t.db.prisma.job.findMany({ where: { id: { in: [noopId, csvId] } } });
    expect(Object.fromEntries(jobs.map((j) => [j.type, [j.status, j.result]]))).toEqual({
      noop: ['COMPLETED', { sleptMs: 0, logLines: 3 }],
      'csv-import': ['COMPLETED', { rows: 2, valid: 2, invalid: 0, columns: ['id', 'name'] }],
    });
    await queue.close();
  }, 60_000);

  it('puts off a job over JOBS_TYPE_CONCURRENCY: its delivery acknowledged, the job untouched, a fresh delayed message', async () => {
    const queue = new DbQueue(t.db, { visibilityTimeoutSeconds: 30, maxReceives: 5 });
    const running = randomUUID();
    const waiting = randomUUID();
    await t.db.prisma.job.createMany({
      data: [
        // Another Lambda's attempt, alive: the one `noop` slot is taken.
        {
          id: running,
          type: 'noop',
          ownerId,
          status: 'RUNNING',
          attempts: 1,
          leaseToken: randomUUID(),
          leaseExpiresAt: new Date(Date.now() + 60_000),
        },
        { id: waiting, type: 'noop', ownerId },
      ],
    });
    await queue.send(waiting);
    const messages = await queue.receive({ max: 10, waitMs: 1000 });
    expect(messages.map((m) => m.jobId)).toEqual([waiting]);
    const res = await invokeLambda(
      dir,
      { Records: messages.map(toRecord) },
      {
        DATABASE_URL: t.url!,
        JOBS_DATA_DIR: dataDir,
        JOBS_TYPE_CONCURRENCY: 'noop=1',
      },
    );
    expect([res.code, JSON.parse(res.out)]).toEqual([0, { batchItemFailures: [] }]);
    expect(await t.db.prisma.job.findUniqueOrThrow({ where: { id: waiting } })).toMatchObject({
      status: 'PENDING',
      attempts: 0,
      startedAt: null,
    });
    // (The delivery itself is SQS's to delete, a success of the batch; this test's queue is a table.)
    const left = await t.db.prisma.queueMessage.findMany({ where: { jobId: waiting, receiveCount: 0 } });
    expect(left).toHaveLength(1);
    expect(left[0]).toMatchObject({ receiveCount: 0 });
    expect(left[0].visibleAt.getTime()).toBeGreaterThan(Date.now() + 2_000);
    await t.db.prisma.job.deleteMany({ where: { id: { in: [running, waiting] } } });
    await t.db.prisma.queueMessage.deleteMany({ where: { jobId: waiting } });
    await queue.close();
  }, 60_000);

  it('runs one schedule tick for the EventBridge tick event: the due ticks get their jobs', async () => {
    const id = randomUUID();
    const due = new Date(Math.floor(Date.now() / 60_000) * 60_000 - 60_000); // a minute ago
    // Yearly: no other tick comes due while the test runs.
    await t.db.prisma.schedule.create({
      data: { id, ownerId, cron: '0 0 1 1 *', type: 'noop', params: { logLines: 1 }, nextRunAt: due },
    });
    const res = await invoke(SCHEDULE_TICK_EVENT);
    expect(res.code).toBe(0);
    expect(JSON.parse(res.out)).toEqual({ batchItemFailures: [] });
    const jobs = await t.db.prisma.job.findMany({ where: { scheduleId: id } });
    expect(jobs).toHaveLength(1);
    expect(jobs[0]).toMatchObject({ type: 'noop', ownerId, status: 'PENDING', params: { logLines: 1 } });
    const after = await t.db.prisma.schedule.findUniqueOrThrow({ where: { id } });
    expect(after.nextRunAt.getTime()).toBeGreaterThan(Date.now());
    expect(after.lastRunAt).toEqual(due);
    expect(after.lastJobId).toBe(jobs[0].id);
    // Again at once: nothing is due, nothing is created.
    expect(JSON.parse((await invoke(SCHEDULE_TICK_EVENT)).out)).toEqual({ batchItemFailures: [] });
    expect(await t.db.prisma.job.count({ where: { scheduleId: id } })).toBe(1);
  }, 60_000);

  it('delivers the due webhook deliveries on the tick event', async () => {
    const receiver = await startReceiver([200]);
    try {
      const id = randomUUID();
      const deliveryId = randomUUID();
      await t.db.prisma.job.create({
        data: {
          id,
          type: 'noop',
          ownerId,
          status: 'COMPLETED',
          finishedAt: new Date(),
          webhookUrl: receiver.url,
        },
      });
      await t.db.prisma.webhookDelivery.create({
        data: { id: deliveryId, jobId: id, event: 'job.completed', url: receiver.url },
      });
      const res = await invokeLambda(dir, SCHEDULE_TICK_EVENT, {
        DATABASE_URL: t.url!,
        JOBS_DATA_DIR: dataDir,
        JOBS_WEBHOOK_ALLOW_PRIVATE: 'true',
      });
      expect(res.code).toBe(0);
      const [got] = await receiver.waitFor(1);
      expect(got.headers['jobs-delivery']).toBe(deliveryId);
      expect(JSON.parse(got.body)).toMatchObject({ id, status: 'COMPLETED' });
      const row = await t.db.prisma.webhookDelivery.findUniqueOrThrow({ where: { id: deliveryId } });
      expect(row).toMatchObject({ state: 'delivered', attempts: 1 });
    } finally {
      await receiver.close();
    }
  }, 60_000);

  it('runs retention on the tick event: a finished job past JOBS_RETENTION_DAYS goes, a recent one stays', async () => {
    const old = randomUUID();
    const recent = randomUUID();
    const day = 86_400_000;
    await t.db.prisma.job.createMany({
      data: [
        { id: old, type: 'noop', ownerId, status: 'COMPLETED', finishedAt: new Date(Date.now() - 3 * day) },
        {
          id: recent,
          type: 'noop',
          ownerId,
          status: 'COMPLETED',
          finishedAt: new Date(Date.now() - day / 2),
        },
      ],
    });
    const res = await invokeLambda(dir, SCHEDULE_TICK_EVENT, {
      DATABASE_URL: t.url!,
      JOBS_DATA_DIR: dataDir,
      JOBS_RETENTION_DAYS: '2',
    });
    expect(res.code).toBe(0);
    const left = await t.db.prisma.job.findMany({
      where: { id: { in: [old, recent] } },
      select: { id: true },
    });
    expect(left.map((j) => j.id)).toEqual([recent]);
  }, 60_000);

  it('reads the database URL from Secrets Manager, as the stacks configure it', async () => {
    // A stand-in for Secrets Manager's GetSecretValue on 127.0.0.1: the SDK client is loaded from
    // its own chunk only when a secret is configured, so this proves the chunk is in the zip.
    const arn = 'arn:aws:secretsmanager:us-east-1:000000000000:secret:jobs-db';
    const calls: string[] = [];
    const secrets = http.createServer((req, res) => {
      let body = '';
      req.on('data', (d: Buffer) => (body += d));
      req.on('end', () => {
        calls.push(`${String(req.headers['x-amz-target'])} ${JSON.parse(body).SecretId}`);
        res.setHeader('content-type', 'application/x-amz-json-1.1');
        res.end(JSON.stringify({ ARN: arn, Name: 'jobs-db', SecretString: t.url }));
      });
    });
    await new Promise<void>((resolve) => secrets.listen(0, '127.0.0.1', resolve));
    const queue = new DbQueue(t.db, { visibilityTimeoutSeconds: 30, maxReceives: 5 });
    try {
      const id = randomUUID();
      await t.db.prisma.job.create({ data: { id, type: 'noop', ownerId } });
      await queue.send(id);
      const messages = await queue.receive({ max: 10, waitMs: 1000 });
      const res = await invokeLambda(
        dir,
        { Records: messages.map(toRecord) },
        {
          // Unusable on purpose: the secret holds the whole URL, which replaces it.
          DATABASE_URL: 'postgresql://nobody@127.0.0.1:9/none',
          JOBS_DATABASE_SECRET_ARN: arn,
          AWS_ENDPOINT_URL_SECRETS_MANAGER: `http://127.0.0.1:${(secrets.address() as AddressInfo).port}`,
          AWS_REGION: 'us-east-1',
          AWS_ACCESS_KEY_ID: 'test',
          AWS_SECRET_ACCESS_KEY: 'test',
          JOBS_DATA_DIR: dataDir,
        },
      );
      expect(JSON.parse(res.out)).toEqual({ batchItemFailures: [] });
      expect(calls).toEqual([`secretsmanager.GetSecretValue ${arn}`]);
      expect((await t.db.prisma.job.findUniqueOrThrow({ where: { id } })).status).toBe('COMPLETED');
    } finally {
      await queue.close();
      await new Promise((resolve) => secrets.close(resolve));
    }
  }, 60_000);

  it('fails the cold start clearly without DATABASE_URL', async () => {
    const script = `const { handler } = await import('./index.mjs');
      await handler({ Records: [] }, { getRemainingTimeInMillis: () => 1000 }).catch((e) => { console.log(e.message); });`;
    const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], {
      cwd: dir,
      env: { PATH: process.env.PATH ?? '' },
      encoding: 'utf8',
    });
    expect(r.stdout.trim()).toBe('DATABASE_URL is required in Lambda (there is no embedded database)');
  });
});
