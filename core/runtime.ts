import path from 'node:path';
import type { BlobStore } from './blobs/blob-store.js';
import { FsBlobStore } from './blobs/fs-blob-store.js';
import { ConfigError, type Config } from './config.js';
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
  close(): Promise<void>;
}

export async function openRuntime(config: Config, opts: { migrate?: boolean } = {}): Promise<Runtime> {
  if (config.s3Bucket)
    throw new ConfigError('JOBS_S3_BUCKET is set, but this build has no S3 blob store yet');
  if (config.sqsQueueUrl)
    throw new ConfigError('JOBS_SQS_QUEUE_URL is set, but this build has no SQS queue yet');
  const db = await openDatabase({ url: config.databaseUrl, dir: path.join(config.dataDir, 'db') });
  try {
    // The embedded database migrates itself; a server database is migrated with `jobs db migrate`
    // too, but applying pending migrations at start is safe (advisory lock) and saves a step.
    if (opts.migrate ?? true) await migrate(db);
  } catch (err) {
    await db.close();
    throw err;
  }
  const blobs = new FsBlobStore(path.join(config.dataDir, 'blobs'));
  const queue = new DbQueue(db, {
    visibilityTimeoutSeconds: config.visibilityTimeoutSeconds,
    maxReceives: config.maxReceives,
  });
  return {
    db,
    blobs,
    queue,
    embedded: !config.databaseUrl,
    async close() {
      await queue.close();
      await db.close();
    },
  };
}
