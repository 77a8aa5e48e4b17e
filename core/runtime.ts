import path from 'node:path';
import type { BlobStore } from './blobs/blob-store.js';
import { FsBlobStore } from './blobs/fs-blob-store.js';
import { S3Client } from '@aws-sdk/client-s3';
import { SQSClient } from '@aws-sdk/client-sqs';
import type { Config } from './config.js';
import { S3BlobStore } from './blobs/s3-blob-store.js';
import { createLogger } from './logger.js';
import { SqsQueue } from './queue/sqs-queue.js';
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
  /** Apply pending migrations at start (default true; the Lambda never does). */
  migrate?: boolean;
  /** Run the SQS outbox relay in this process (default true; the Lambda never does). */
  relay?: boolean;
}

export async function openRuntime(config: Config, opts: RuntimeOptions = {}): Promise<Runtime> {
  const db = await openDatabase({ url: config.databaseUrl, dir: path.join(config.dataDir, 'db') });
  try {
    // The embedded database migrates itself; a server database is migrated with `jobs db migrate`
    // too, but applying pending migrations at start is safe (advisory lock) and saves a step.
    if (opts.migrate ?? true) await migrate(db);
  } catch (err) {
    await db.close();
    throw err;
  }
  const blobs: BlobStore = config.s3Bucket
    ? new S3BlobStore({
        client: new S3Client({
          region: config.awsRegion ?? 'us-east-1',
          endpoint: config.s3Endpoint,
          // Emulators and S3-compatible stores answer on one host, not per-bucket subdomains.
          forcePathStyle: Boolean(config.s3Endpoint),
        }),
        bucket: config.s3Bucket,
        kmsKeyId: config.s3KmsKeyId,
      })
    : new FsBlobStore(path.join(config.dataDir, 'blobs'));
  const queue: JobQueue = config.sqsQueueUrl
    ? new SqsQueue({
        client: new SQSClient({ region: config.awsRegion ?? 'us-east-1', endpoint: config.sqsEndpoint }),
        queueUrl: config.sqsQueueUrl,
        dlqUrl: config.sqsDlqUrl,
        prisma: db.prisma,
        logger: createLogger(config.logLevel, 'jobs-outbox'),
        relay: (opts.relay ?? true) ? {} : false,
      })
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
      await db.close();
    },
  };
}
