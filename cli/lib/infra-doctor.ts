import { randomUUID } from 'node:crypto';
import { DeleteObjectCommand, HeadBucketCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { GetQueueAttributesCommand, type SQSClient } from '@aws-sdk/client-sqs';
import { GetFunctionCommand, type LambdaClient } from '@aws-sdk/client-lambda';
import pg from 'pg';
import type { Config } from '../../core/config.js';
import { resolveDatabaseUrl } from '../../core/db/database-secret.js';
import { readMigrations } from '../../core/db/migrate.js';
import { awsReason } from './infra-publish.js';

export type CheckName = 'database' | 'bucket' | 'queue' | 'function';

export interface Check {
  name: CheckName;
  /** `skip`: not configured (that component runs embedded); does not fail the doctor. */
  status: 'ok' | 'fail' | 'skip';
  detail: string;
}

export interface DoctorClients {
  s3?: S3Client;
  sqs?: SQSClient;
  lambda?: LambdaClient;
}

/** Where the probe object goes: under the input prefix, where the roles may write. */
export const PROBE_PREFIX = 'inputs/.jobs-doctor/';

class Failed extends Error {}
const fail = (detail: string): never => {
  throw new Failed(detail);
};

/**
 * `jobs doctor`: checks each configured component the way the processor uses it, one result per
 * component with the reason when it fails. Every check has a deadline, so the doctor never hangs
 * on an unreachable host.
 */
export async function runDoctor(
  config: Config,
  clients: DoctorClients,
  opts: { timeoutMs?: number } = {},
): Promise<Check[]> {
  const timeoutMs = opts.timeoutMs ?? 10_000;
  const run = async (
    name: CheckName,
    subject: string | undefined,
    why: string,
    check: (signal: AbortSignal) => Promise<string>,
  ): Promise<Check> => {
    if (!subject) return { name, status: 'skip', detail: why };
    const signal = AbortSignal.timeout(timeoutMs);
    try {
      return { name, status: 'ok', detail: await check(signal) };
    } catch (err) {
      if (err instanceof Failed) return { name, status: 'fail', detail: err.message };
      const reason = signal.aborted ? `no answer within ${timeoutMs / 1000} s` : awsReason(err);
      return { name, status: 'fail', detail: `${subject}: ${reason}` };
    }
  };
  return Promise.all([
    run(
      'database',
      config.databaseUrl || config.databaseSecretArn ? 'database' : undefined,
      'DATABASE_URL is not set (embedded PGlite)',
      () => checkDatabase(config, timeoutMs),
    ),
    run(
      'bucket',
      config.s3Bucket && clients.s3 ? `bucket ${config.s3Bucket}` : undefined,
      'JOBS_S3_BUCKET is not set (inputs in <data-dir>/blobs)',
      (s) => checkBucket(config, clients.s3!, s),
    ),
    run(
      'queue',
      config.sqsQueueUrl && clients.sqs ? `queue ${config.sqsQueueUrl}` : undefined,
      'JOBS_SQS_QUEUE_URL is not set (database queue)',
      (s) => checkQueue(config, clients.sqs!, s),
    ),
    run(
      'function',
      config.lambdaFunctionName && clients.lambda ? `function ${config.lambdaFunctionName}` : undefined,
      'JOBS_LAMBDA_FUNCTION_NAME is not set',
      (s) => checkFunction(config, clients.lambda!, s),
    ),
  ]);
}

async function checkDatabase(config: Config, timeoutMs: number): Promise<string> {
  const url = await resolveDatabaseUrl(config);
  if (!url) return fail('DATABASE_URL is not set');
  const where = describeUrl(url);
  const client = new pg.Client({
    connectionString: url,
    connectionTimeoutMillis: timeoutMs,
    query_timeout: timeoutMs,
  });
  try {
    await client.connect();
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    return fail(`cannot connect to ${where}: ${e.code ?? e.message}`);
  }
  try {
    const table = await client.query<{ t: string | null }>(
      `SELECT to_regclass('"_prisma_migrations"')::text AS t`,
    );
    if (!table.rows[0].t)
      return fail(`connected to ${where}, but no migrations are applied (run \`jobs db migrate\`)`);
    const applied = await client.query<{ migration_name: string }>(
      `SELECT migration_name FROM "_prisma_migrations" WHERE finished_at IS NOT NULL AND rolled_back_at IS NULL`,
    );
    const done = new Set(applied.rows.map((r) => r.migration_name));
    const all = readMigrations();
    const pending = all.filter((m) => !done.has(m.name)).map((m) => m.name);
    if (pending.length > 0) {
      return fail(
        `connected to ${where}, but ${pending.length} migration${pending.length === 1 ? ' is' : 's are'} pending: ${pending.join(', ')} (run \`jobs db migrate\`)`,
      );
    }
    return `connected to ${where}; all ${all.length} migrations applied`;
  } finally {
    await client.end().catch(() => {});
  }
}

async function checkBucket(config: Config, s3: S3Client, abortSignal: AbortSignal): Promise<string> {
  const Bucket = config.s3Bucket!;
  try {
    await s3.send(new HeadBucketCommand({ Bucket }), { abortSignal });
  } catch (err) {
    const status = (err as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
    if (status === 404) return fail(`bucket ${Bucket} does not exist`);
    if (status === 403) return fail(`bucket ${Bucket}: access denied`);
    throw err;
  }
  // Write and remove a small object the way the API does (same encryption), under the prefix.
  const Key = `${PROBE_PREFIX}${randomUUID()}`;
  const encryption = config.s3KmsKeyId
    ? { ServerSideEncryption: 'aws:kms' as const, SSEKMSKeyId: config.s3KmsKeyId }
    : { ServerSideEncryption: 'AES256' as const };
  try {
    await s3.send(new PutObjectCommand({ Bucket, Key, Body: 'jobs doctor', ...encryption }), { abortSignal });
  } catch (err) {
    return fail(`bucket ${Bucket} exists, but writing ${Key} failed: ${awsReason(err)}`);
  }
  try {
    await s3.send(new DeleteObjectCommand({ Bucket, Key }), { abortSignal });
  } catch (err) {
    return fail(`bucket ${Bucket}: wrote ${Key} but could not delete it: ${awsReason(err)}`);
  }
  return `bucket ${Bucket} exists; wrote and deleted ${PROBE_PREFIX}…`;
}

async function checkQueue(config: Config, sqs: SQSClient, abortSignal: AbortSignal): Promise<string> {
  const url = config.sqsQueueUrl!;
  let attrs: Record<string, string>;
  try {
    const out = await sqs.send(new GetQueueAttributesCommand({ QueueUrl: url, AttributeNames: ['All'] }), {
      abortSignal,
    });
    attrs = out.Attributes ?? {};
  } catch (err) {
    const name = (err as { name?: string }).name ?? '';
    if (/NonExistentQueue|QueueDoesNotExist/.test(name)) return fail(`queue ${url} does not exist`);
    throw err;
  }
  const problems: string[] = [];
  const visibility = Number(attrs.VisibilityTimeout);
  if (visibility !== config.visibilityTimeoutSeconds) {
    problems.push(
      `its visibility timeout is ${visibility} s but JOBS_VISIBILITY_TIMEOUT_SECONDS is ${config.visibilityTimeoutSeconds}`,
    );
  }
  let dlqArn: string | undefined;
  if (!attrs.RedrivePolicy) {
    problems.push('it has no dead-letter queue (no redrive policy)');
  } else {
    const redrive = JSON.parse(attrs.RedrivePolicy) as {
      deadLetterTargetArn?: string;
      maxReceiveCount?: number | string;
    };
    dlqArn = redrive.deadLetterTargetArn;
    if (Number(redrive.maxReceiveCount) !== config.maxReceives) {
      problems.push(
        `its maxReceiveCount is ${redrive.maxReceiveCount} but JOBS_MAX_RECEIVES is ${config.maxReceives}`,
      );
    }
  }
  let dlqNote = '';
  if (config.sqsDlqUrl) {
    try {
      const dlq = await sqs.send(
        new GetQueueAttributesCommand({
          QueueUrl: config.sqsDlqUrl,
          AttributeNames: ['QueueArn', 'ApproximateNumberOfMessages'],
        }),
        { abortSignal },
      );
      if (dlqArn && dlq.Attributes?.QueueArn !== dlqArn) {
        problems.push(
          `JOBS_SQS_DLQ_URL is ${dlq.Attributes?.QueueArn}, not the queue's dead-letter queue ${dlqArn}`,
        );
      }
      dlqNote = `, ${dlq.Attributes?.ApproximateNumberOfMessages ?? '?'} dead-lettered`;
    } catch (err) {
      problems.push(`JOBS_SQS_DLQ_URL ${config.sqsDlqUrl} cannot be read: ${awsReason(err)}`);
    }
  }
  if (problems.length > 0) return fail(`queue ${url}: ${problems.join('; ')}`);
  return `queue ${url}: ${attrs.ApproximateNumberOfMessages ?? '?'} waiting, ${attrs.ApproximateNumberOfMessagesNotVisible ?? '?'} in flight${dlqNote}; dead-letters after ${config.maxReceives} receives`;
}

async function checkFunction(
  config: Config,
  lambda: LambdaClient,
  abortSignal: AbortSignal,
): Promise<string> {
  const name = config.lambdaFunctionName!;
  let fn;
  try {
    fn = await lambda.send(new GetFunctionCommand({ FunctionName: name }), { abortSignal });
  } catch (err) {
    if ((err as { name?: string }).name === 'ResourceNotFoundException')
      return fail(`function ${name} does not exist`);
    throw err;
  }
  const c = fn.Configuration ?? {};
  if (c.State !== 'Active')
    return fail(
      `function ${name} is ${c.State ?? 'in an unknown state'}${c.StateReason ? `: ${c.StateReason}` : ''}`,
    );
  if (c.LastUpdateStatus === 'Failed')
    return fail(`the last update of ${name} failed: ${c.LastUpdateStatusReason ?? 'no reason given'}`);
  const env = c.Environment?.Variables ?? {};
  const problems: string[] = [];
  if (config.sqsQueueUrl && env.JOBS_SQS_QUEUE_URL && env.JOBS_SQS_QUEUE_URL !== config.sqsQueueUrl) {
    problems.push(`it consumes ${env.JOBS_SQS_QUEUE_URL}, not JOBS_SQS_QUEUE_URL`);
  }
  if (config.s3Bucket && env.JOBS_S3_BUCKET && env.JOBS_S3_BUCKET !== config.s3Bucket) {
    problems.push(`it reads bucket ${env.JOBS_S3_BUCKET}, not JOBS_S3_BUCKET ${config.s3Bucket}`);
  }
  if (!c.VpcConfig?.SubnetIds?.length) problems.push('it is not in a VPC');
  if (problems.length > 0) return fail(`function ${name}: ${problems.join('; ')}`);
  return `function ${name} is active (${c.Runtime ?? '?'}, ${(c.Architectures ?? []).join(',') || '?'}, ${c.Timeout ?? '?'} s, code ${c.CodeSha256?.slice(0, 12) ?? '?'}…)`;
}

/** host:port/database of a URL, never its credentials. */
function describeUrl(url: string): string {
  try {
    const u = new URL(url);
    return `${u.hostname}${u.port ? `:${u.port}` : ''}${u.pathname}`;
  } catch {
    return 'the database';
  }
}
