import type { Context, SQSBatchResponse, SQSEvent } from 'aws-lambda';
import { compose, defaultHandlers, type Platform } from '../compose/compose.js';
import { ConfigError, loadConfig } from '../core/config.js';
import { resolveDatabaseUrl } from '../core/db/database-secret.js';
import { createLogger } from '../core/logger.js';
import type { JobHandler } from './handler.js';
import { isScheduleTick, type ScheduleTickEvent } from './tick-event.js';

/** Time kept back from the Lambda deadline to release an interrupted job and answer. */
const DEADLINE_MARGIN_MS = 5_000;

export type LambdaHandler = (
  event: SQSEvent | ScheduleTickEvent,
  context: Context,
) => Promise<SQSBatchResponse>;

/**
 * The Lambda entry over the built-in job types plus `extra` (a deployment's own, bundled in by
 * `npm run build:lambda` from JOBS_HANDLERS). An SQS batch in, partial batch failures out (the
 * event source mapping must enable ReportBatchItemFailures). Handlers see the invocation's
 * deadline through their AbortSignal; a job still running then is released and its message
 * retried. The schedule tick event (processor/tick-event.ts, from EventBridge Scheduler every
 * minute) runs one pass of the schedule ticker instead: the jobs of every due tick, then the
 * webhook deliveries due.
 */
export function createLambdaHandler(extra: readonly JobHandler[] = []): LambdaHandler {
  let ready: Promise<Platform> | undefined;

  /**
   * Cold start: configuration (and the database secret) is read and checked once, and the
   * database client and SDK clients are created once and reused by every invocation of this
   * execution environment.
   */
  async function coldStart(): Promise<Platform> {
    const env = loadConfig(process.env);
    // The stacks give DATABASE_URL without its password and JOBS_DATABASE_SECRET_ARN: the
    // password is read from Secrets Manager here, once per execution environment.
    const databaseUrl = await resolveDatabaseUrl(env);
    if (!databaseUrl)
      throw new ConfigError('DATABASE_URL is required in Lambda (there is no embedded database)');
    const config = { ...env, databaseUrl };
    const platform = await compose(config, {
      handlers: [...defaultHandlers(config), ...extra],
      logger: createLogger(config.logLevel, 'jobs-processor'),
      // Migrations are a deploy step (`jobs db migrate`), never a side effect of an invocation,
      // and the outbox relay runs on the API hosts.
      migrate: false,
      relay: false,
      // The S3 and SQS clients are loaded by the first job that needs them (an input to read, a
      // delivery to extend or dead-letter, a retry to queue): many never do.
      lazyAdapters: true,
    });
    return platform;
  }

  return async (event, context) => {
    ready ??= coldStart().catch((err: unknown) => {
      ready = undefined; // let the next invocation try again (e.g. the database was briefly down)
      throw err;
    });
    const platform = await ready;
    if (isScheduleTick(event)) {
      const outcomes = await platform.tickSchedules();
      const created = outcomes.filter((o) => o.kind === 'created').length;
      if (outcomes.length > 0) platform.logger.info({ ticks: outcomes.length, created }, 'schedules: tick');
      // And the webhook deliveries due (the API hosts deliver too, every second, when they run).
      const delivered = await platform.deliverWebhooks();
      if (delivered > 0) platform.logger.info({ attempts: delivered }, 'webhooks: delivered');
      // And retention (JOBS_RETENTION_DAYS): on AWS this tick is the scheduled trigger that runs
      // it. When nothing is past retention it is one indexed query; a backlog is deleted in small
      // batches, and what one invocation leaves the next minute's continues.
      const pruned = await platform.pruneExpired();
      if (pruned && pruned.jobs > 0)
        platform.logger.info({ ...pruned }, `retention: deleted ${pruned.jobs} finished jobs`);
      return { batchItemFailures: [] };
    }
    const remaining = context.getRemainingTimeInMillis();
    const deadline = AbortSignal.timeout(Math.max(1_000, remaining - DEADLINE_MARGIN_MS));
    return platform.processor(event, deadline);
  };
}

/** The entry of a Lambda built without a deployment's own job types. */
export const handler: LambdaHandler = createLambdaHandler();
