import path from 'node:path';
import type { BlobStore } from './blobs/blob-store.js';
import { FsBlobStore } from './blobs/fs-blob-store.js';
import { LazyBlobStore } from './blobs/lazy-blob-store.js';
import { routeReceipt } from './queue/sqs-priority.js';
import { LazyJobQueue } from './lazy-job-queue.js';
import { changeMessageVisibility } from './aws/change-message-visibility.js';
import type { Config } from './config.js';
import { createLogger } from './logger.js';
import { openDatabase, type Database } from './db/database.js';
import { migrate } from './db/migrate.js';
import { DbQueue } from './queue/db-queue.js';
import type { JobQueue } from './queue/job-queue.js';

/** The adapters chosen by configuration: each component independently embedded or AWS. */
export interface Runtime {
  db: Database;
  blobs: BlobStore;
  queue: JobQueue;
  /** True when this process alone owns the database (PGlite in the data directory). */
  embedded: boolean;
  queueKind: 'database' | 'sqs';
  close(): Promise<void>;
}

export interface RuntimeOptions {
  /** An open database to use instead of opening one from config (tests share one per suite); not closed by `close()`. */
  db?: Database;
  /** A blob store to use instead of the configured one. */
  blobs?: BlobStore;
  /** Apply pending migrations at start (default true; the Lambda never does). */
  migrate?: boolean;
  /** Run the SQS outbox relay in this process (default true; the Lambda never does). */
  relay?: boolean;
  /**
   * Open the AWS adapters at their first use (default false): a processor whose job has no input
   * never loads the S3 client, one that only runs jobs never loads the SQS client (the Lambda's
   * cold start). Such a blob store has no direct uploads, such a queue no `recover`.
   */
  lazyAdapters?: boolean;
}

export async function openRuntime(config: Config, opts: RuntimeOptions = {}): Promise<Runtime> {
  const db =
    opts.db ?? (await openDatabase({ url: config.databaseUrl, dir: path.join(config.dataDir, 'db') }));
  try {
    // The embedded database migrates itself; a server database is migrated with `jobs db migrate`
    // too, but applying pending migrations at start is safe (advisory lock) and saves a step.
    if (opts.migrate ?? true) await migrate(db);
  } catch (err) {
    if (!opts.db) await db.close();
    throw err;
  }
  // The AWS adapters are imported only when configured: their SDK clients would cost an embedded
  // server ~25 MB of memory for nothing.
  const s3Bucket = config.s3Bucket;
  const blobs: BlobStore = opts.blobs
    ? opts.blobs
    : s3Bucket
      ? opts.lazyAdapters
        ? new LazyBlobStore(() => openS3BlobStore(config, s3Bucket), { hashedOnWrite: false })
        : await openS3BlobStore(config, s3Bucket)
      : new FsBlobStore(path.join(config.dataDir, 'blobs'));
  const sqsQueueUrl = config.sqsQueueUrl;
  const relay = opts.relay ?? true;
  const queue: JobQueue = sqsQueueUrl
    ? opts.lazyAdapters && !relay // a relay runs from the start, so its queue is opened then
      ? new LazyJobQueue(() => openSqsQueue(config, sqsQueueUrl, db, relay), {
          changeVisibility: (receipt, seconds) =>
            changeMessageVisibility({
              ...routeReceipt(receipt, sqsQueueUrl, config.sqsPriorityQueueUrl),
              seconds,
              region: config.awsRegion,
              endpoint: config.sqsEndpoint,
            }),
        })
      : await openSqsQueue(config, sqsQueueUrl, db, relay)
    : new DbQueue(db, {
        visibilityTimeoutSeconds: config.visibilityTimeoutSeconds,
        maxReceives: config.maxReceives,
      });
  return {
    db,
    blobs,
    queue,
    embedded: !config.databaseUrl,
    queueKind: config.sqsQueueUrl ? 'sqs' : 'database',
    async close() {
      await queue.close();
      if (!opts.db) await db.close();
    },
  };
}

async function openS3BlobStore(config: Config, bucket: string): Promise<BlobStore> {
  const { S3Client } = await import('@aws-sdk/client-s3');
  const { S3BlobStore } = await import('./blobs/s3-blob-store.js');
  return new S3BlobStore({
    client: new S3Client({
      region: config.awsRegion ?? 'us-east-1',
      endpoint: config.s3Endpoint,
      // Emulators and S3-compatible stores answer on one host, not per-bucket subdomains.
      forcePathStyle: Boolean(config.s3Endpoint),
    }),
    bucket,
    kmsKeyId: config.s3KmsKeyId,
  });
}

async function openSqsQueue(
  config: Config,
  queueUrl: string,
  db: Database,
  relay: boolean,
): Promise<JobQueue> {
  const { SQSClient } = await import('@aws-sdk/client-sqs');
  const { SqsQueue } = await import('./queue/sqs-queue.js');
  return new SqsQueue({
    client: new SQSClient({ region: config.awsRegion ?? 'us-east-1', endpoint: config.sqsEndpoint }),
    queueUrl,
    priorityQueueUrl: config.sqsPriorityQueueUrl,
    dlqUrl: config.sqsDlqUrl,
    prisma: db.prisma,
    logger: createLogger(config.logLevel, 'jobs-outbox'),
    relay: relay ? { window: config.sqsDispatchWindow, listen: (...a) => db.listen(...a) } : false,
  });
}
