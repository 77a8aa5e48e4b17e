import { afterAll, afterEach, beforeAll, describe, expect, it } from '@jest/globals';
import net from 'node:net';
import { GetFunctionCommand, LambdaClient } from '@aws-sdk/client-lambda';
import { ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';
import { SQSClient } from '@aws-sdk/client-sqs';
import { mockClient } from 'aws-sdk-client-mock';
import { loadConfig } from '../../core/config.js';
import { openDatabase } from '../../core/db/database.js';
import { migrate, readMigrations } from '../../core/db/migrate.js';
import { runDoctor, type Check } from '../../cli/lib/infra-doctor.js';
import { createScratchDatabase } from '../helpers/db.js';
import { EMULATOR_ENV, startEmulator, type Emulator } from '../helpers/fauxqs.js';
import { runCli } from './helpers/run-cli.js';

/**
 * `jobs doctor` against real parts: S3 and SQS over HTTP (fauxqs), the local PostgreSQL server
 * (a scratch database; these cases need TEST_DATABASE_URL), and a mocked Lambda client.
 */
const pgOnly = process.env.TEST_DATABASE_URL ? describe : describe.skip;
const lambdaMock = mockClient(LambdaClient);
let emu: Emulator;
let queue: { url: string; dlqUrl: string };
let migrated: { url: string; drop: () => Promise<void> };
let empty: { url: string; drop: () => Promise<void> };

const BUCKET = 'jobs-doctor-inputs';
const FUNCTION = 'jobs-qa-processor';

beforeAll(async () => {
  emu = await startEmulator();
  await emu.createBucket(BUCKET);
  queue = await emu.createQueue('jobs-doctor', { visibilityTimeout: 720, maxReceiveCount: 5 });
  if (process.env.TEST_DATABASE_URL) {
    migrated = await createScratchDatabase();
    const db = await openDatabase({ url: migrated.url });
    await migrate(db);
    await db.close();
    empty = await createScratchDatabase();
  }
});
afterAll(async () => {
  await emu?.stop();
  await migrated?.drop();
  await empty?.drop();
});
afterEach(() => {
  lambdaMock.reset();
});

/** The environment of a production host pointed at the emulator. */
const envFor = (extra: Record<string, string | undefined> = {}) => ({
  ...EMULATOR_ENV,
  JOBS_S3_BUCKET: BUCKET,
  JOBS_S3_ENDPOINT: emu.endpoint,
  JOBS_SQS_QUEUE_URL: queue.url,
  JOBS_SQS_DLQ_URL: queue.dlqUrl,
  JOBS_SQS_ENDPOINT: emu.endpoint,
  JOBS_VISIBILITY_TIMEOUT_SECONDS: '720',
  JOBS_MAX_RECEIVES: '5',
  JOBS_LAMBDA_FUNCTION_NAME: FUNCTION,
  ...extra,
});
const activeFunction = (env: Record<string, string> = {}) =>
  lambdaMock.on(GetFunctionCommand, { FunctionName: FUNCTION }).resolves({
    Configuration: {
      FunctionName: FUNCTION,
      State: 'Active',
      LastUpdateStatus: 'Successful',
      Runtime: 'nodejs22.x',
      Architectures: ['arm64'],
      Timeout: 120,
      CodeSha256: 'q1w2e3r4t5y6u7i8o9p0',
      VpcConfig: { SubnetIds: ['subnet-1', 'subnet-2'], SecurityGroupIds: ['sg-1'] },
      Environment: { Variables: { JOBS_SQS_QUEUE_URL: queue.url, JOBS_S3_BUCKET: BUCKET, ...env } },
    },
  });
const doctor = (env: Record<string, string | undefined>) =>
  runDoctor(
    loadConfig(env),
    { s3: emu.s3, sqs: emu.sqs, lambda: new LambdaClient({ region: 'eu-west-1' }) },
    { timeoutMs: 5_000 },
  );
const byName = (checks: Check[]) => Object.fromEntries(checks.map((c) => [c.name, c]));

async function closedPort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as net.AddressInfo;
  await new Promise((r) => server.close(r));
  return port;
}

describe('bucket, queue and function', () => {
  it('are ok when they exist and agree with the configuration', async () => {
    activeFunction();
    const c = byName(await doctor(envFor()));
    expect(c.bucket).toEqual({
      name: 'bucket',
      status: 'ok',
      detail: `bucket ${BUCKET} exists; wrote and deleted inputs/.jobs-doctor/…`,
    });
    expect(c.queue).toEqual({
      name: 'queue',
      status: 'ok',
      detail: `queue ${queue.url}: 0 waiting, 0 in flight, 0 dead-lettered; dead-letters after 5 receives`,
    });
    expect(c.function).toEqual({
      name: 'function',
      status: 'ok',
      detail: `function ${FUNCTION} is active (nodejs22.x, arm64, 120 s, code q1w2e3r4t5y6…)`,
    });
    expect(c.database).toEqual({
      name: 'database',
      status: 'skip',
      detail: 'DATABASE_URL is not set (embedded PGlite)',
    });
    // The probe object is gone again.
    const left = await emu.s3.send(new ListObjectsV2Command({ Bucket: BUCKET }));
    expect(left.KeyCount ?? 0).toBe(0);
  });

  it('says the bucket does not exist', async () => {
    activeFunction({ JOBS_S3_BUCKET: 'no-such-bucket' });
    const c = byName(await doctor(envFor({ JOBS_S3_BUCKET: 'no-such-bucket' })));
    expect(c.bucket).toEqual({
      name: 'bucket',
      status: 'fail',
      detail: 'bucket no-such-bucket does not exist',
    });
  });

  it('says the queue does not exist for a wrong queue URL', async () => {
    const wrong = `${emu.endpoint}/000000000000/not-a-queue`;
    const c = byName(await doctor(envFor({ JOBS_SQS_QUEUE_URL: wrong })));
    expect(c.queue).toEqual({ name: 'queue', status: 'fail', detail: `queue ${wrong} does not exist` });
  });

  it('finds a queue without a DLQ and settings that disagree with the queue', async () => {
    const { QueueUrl } = await emu.sqs.send(
      new (await import('@aws-sdk/client-sqs')).CreateQueueCommand({
        QueueName: 'no-dlq',
        Attributes: { VisibilityTimeout: '30' },
      }),
    );
    const c = byName(await doctor(envFor({ JOBS_SQS_QUEUE_URL: QueueUrl, JOBS_SQS_DLQ_URL: undefined })));
    expect(c.queue.status).toBe('fail');
    expect(c.queue.detail).toBe(
      `queue ${QueueUrl}: its visibility timeout is 30 s but JOBS_VISIBILITY_TIMEOUT_SECONDS is 720; it has no dead-letter queue (no redrive policy)`,
    );
    const receives = byName(await doctor(envFor({ JOBS_MAX_RECEIVES: '3' })));
    expect(receives.queue.detail).toBe(
      `queue ${queue.url}: its maxReceiveCount is 5 but JOBS_MAX_RECEIVES is 3`,
    );
  });

  it('says the function is missing, not active, or wired to another queue', async () => {
    lambdaMock
      .on(GetFunctionCommand)
      .rejects(Object.assign(new Error('Function not found'), { name: 'ResourceNotFoundException' }));
    expect(byName(await doctor(envFor())).function).toEqual({
      name: 'function',
      status: 'fail',
      detail: `function ${FUNCTION} does not exist`,
    });
    lambdaMock.reset();
    lambdaMock
      .on(GetFunctionCommand)
      .resolves({ Configuration: { State: 'Failed', StateReason: 'The subnet has no free IP addresses' } });
    expect(byName(await doctor(envFor())).function.detail).toBe(
      `function ${FUNCTION} is Failed: The subnet has no free IP addresses`,
    );
    lambdaMock.reset();
    activeFunction({ JOBS_SQS_QUEUE_URL: 'https://sqs.eu-west-1.amazonaws.com/1/other' });
    expect(byName(await doctor(envFor())).function.detail).toBe(
      `function ${FUNCTION}: it consumes https://sqs.eu-west-1.amazonaws.com/1/other, not JOBS_SQS_QUEUE_URL`,
    );
  });

  it('says when S3 or SQS cannot be reached', async () => {
    const endpoint = `http://127.0.0.1:${await closedPort()}`;
    const env = envFor({
      JOBS_S3_ENDPOINT: endpoint,
      JOBS_SQS_ENDPOINT: endpoint,
      JOBS_LAMBDA_FUNCTION_NAME: undefined,
    });
    const config = loadConfig(env);
    const credentials = { accessKeyId: 'test', secretAccessKey: 'test' };
    const s3 = new S3Client({
      region: 'us-east-1',
      endpoint,
      forcePathStyle: true,
      credentials,
      maxAttempts: 1,
    });
    const sqs = new SQSClient({ region: 'us-east-1', endpoint, credentials, maxAttempts: 1 });
    const c = byName(await runDoctor(config, { s3, sqs }, { timeoutMs: 5_000 }));
    const port = new URL(endpoint).port;
    expect(c.bucket).toEqual({
      name: 'bucket',
      status: 'fail',
      detail: `bucket ${BUCKET}: connect ECONNREFUSED 127.0.0.1:${port}`,
    });
    expect(c.queue).toEqual({
      name: 'queue',
      status: 'fail',
      detail: `queue ${queue.url}: connect ECONNREFUSED 127.0.0.1:${port}`,
    });
    s3.destroy();
    sqs.destroy();
  });

  it('skips what is not configured', async () => {
    const checks = await doctor({});
    expect(checks.map((c) => [c.name, c.status])).toEqual([
      ['database', 'skip'],
      ['bucket', 'skip'],
      ['queue', 'skip'],
      ['function', 'skip'],
    ]);
  });
});

pgOnly('database (local PostgreSQL)', () => {
  it('is ok when connected and every migration is applied', async () => {
    activeFunction();
    const c = byName(await doctor(envFor({ DATABASE_URL: migrated.url })));
    const where = new URL(migrated.url);
    expect(c.database).toEqual({
      name: 'database',
      status: 'ok',
      detail: `connected to ${where.hostname}:${where.port}${where.pathname}; all ${readMigrations().length} migrations applied`,
    });
  });

  it('says when migrations are missing', async () => {
    const c = byName(await doctor(envFor({ DATABASE_URL: empty.url })));
    expect(c.database.status).toBe('fail');
    expect(c.database.detail).toMatch(
      /^connected to .+, but no migrations are applied \(run `jobs db migrate`\)$/,
    );
  });

  it('says when the database cannot be reached', async () => {
    const port = await closedPort();
    const c = byName(await doctor(envFor({ DATABASE_URL: `postgresql://root@127.0.0.1:${port}/jobs` })));
    expect(c.database).toEqual({
      name: 'database',
      status: 'fail',
      detail: `cannot connect to 127.0.0.1:${port}/jobs: ECONNREFUSED`,
    });
  });

  it('as a command prints one line each and exits 1 when one fails', async () => {
    const base = { ...envFor({ DATABASE_URL: migrated.url, JOBS_LAMBDA_FUNCTION_NAME: undefined }) };
    const ok = await runCli(['doctor'], { env: base });
    // stderr may hold the AWS SDK's own notice about Node.js 20; the results are on stdout.
    expect(ok.stderr).not.toMatch(/fail|error/i);
    expect(ok.code).toBe(0);
    const lines = ok.stdout.trim().split('\n');
    expect(lines.map((l) => l.split(/\s+/).slice(0, 2).join(' '))).toEqual([
      'ok database',
      'ok bucket',
      'ok queue',
      'skip function',
    ]);
    const bad = await runCli(['doctor', '--json'], { env: { ...base, JOBS_S3_BUCKET: 'gone' } });
    expect(bad.code).toBe(1);
    const out = JSON.parse(bad.stdout);
    expect(out.ok).toBe(false);
    expect(out.checks.find((c: Check) => c.name === 'bucket')).toEqual({
      name: 'bucket',
      status: 'fail',
      detail: 'bucket gone does not exist',
    });
  });
});
