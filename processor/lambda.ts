import type { Context, SQSBatchResponse, SQSEvent } from 'aws-lambda';
import { ConfigError, loadConfig } from '../core/config.js';
import { resolveDatabaseUrl } from '../core/db/database-secret.js';
import { createLogger } from '../core/logger.js';
import { openRuntime } from '../core/runtime.js';
import type { ProcessBatch } from './processor.js';
import { processorFor } from './start-worker.js';

/** Time kept back from the Lambda deadline to release an interrupted job and answer. */
const DEADLINE_MARGIN_MS = 5_000;

let ready: Promise<ProcessBatch> | undefined;

/**
 * Cold start: configuration (and the database secret) is read and checked once, and the
 * database client and SDK clients are created once and reused by every invocation of this
 * execution environment.
 */
async function coldStart(): Promise<ProcessBatch> {
  const config = loadConfig(process.env);
  // The stacks give DATABASE_URL without its password and JOBS_DATABASE_SECRET_ARN: the
  // password is read from Secrets Manager here, once per execution environment.
  config.databaseUrl = await resolveDatabaseUrl(config);
  if (!config.databaseUrl)
    throw new ConfigError('DATABASE_URL is required in Lambda (there is no embedded database)');
  const logger = createLogger(config.logLevel, 'jobs-processor');
  // Migrations are a deploy step (`jobs db migrate`), never a side effect of an invocation.
  const runtime = await openRuntime(config, { migrate: false, relay: false });
  return processorFor(runtime, config, logger);
}

/**
 * The Lambda entry: an SQS batch in, partial batch failures out (the event source mapping must
 * enable ReportBatchItemFailures). Handlers see the invocation's deadline through their
 * AbortSignal; a job still running then is released and its message retried.
 */
export async function handler(event: SQSEvent, context: Context): Promise<SQSBatchResponse> {
  ready ??= coldStart().catch((err: unknown) => {
    ready = undefined; // let the next invocation try again (e.g. the database was briefly down)
    throw err;
  });
  const process = await ready;
  const remaining = context.getRemainingTimeInMillis();
  const deadline = AbortSignal.timeout(Math.max(1_000, remaining - DEADLINE_MARGIN_MS));
  return process(event, deadline);
}
