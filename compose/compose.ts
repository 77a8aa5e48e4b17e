import type { Logger } from 'pino';
import type { BlobStore } from '../core/blobs/blob-store.js';
import type { Config } from '../core/config.js';
import type { Database } from '../core/db/database.js';
import { JobStore } from '../core/jobs/job-store.js';
import { JobTypeRegistry } from '../core/jobs/job-types.js';
import { LiveEvents } from '../core/jobs/live-events.js';
import { createLogger } from '../core/logger.js';
import type { JobQueue } from '../core/queue/job-queue.js';
import { openRuntime } from '../core/runtime.js';
import type { JobHandler } from '../processor/handler.js';
import { builtinHandlers, handlersByType } from '../processor/handlers/index.js';
import { createProcessor, type ProcessBatch } from '../processor/processor.js';
import { claimingReceive } from '../processor/claiming-receive.js';
import { QueueWorker } from '../processor/queue-worker.js';
import { resolveScheduling } from '../core/jobs/scheduling.js';
import { receiptOfRecord } from '../core/queue/sqs-priority.js';
import { Reaper } from '../processor/reaper.js';
import { RetentionService, startRetention, type PruneResult } from '../core/jobs/retention.js';
import { ScheduleTicker, type TickOutcome } from '../core/schedules/schedule-ticker.js';
import { loadHandlerModules } from './handler-modules.js';
import { startWebhookDeliverer, WebhookDeliverer } from '../core/webhooks/deliverer.js';
import type { Resolve } from '../core/webhooks/post.js';

export interface ComposeOptions {
  /**
   * The job types this process knows. Default: the built-ins (less `noop` when the config turns
   * it off) followed by those of the modules in JOBS_HANDLERS (`config.handlerModules`).
   */
  handlers?: readonly JobHandler[];
  /** Default: a pino logger at the configured level. */
  logger?: Logger;
  /** An open database to use instead of the configured one (tests share one per suite); not closed. */
  db?: Database;
  /** A blob store to use instead of the configured one (tests tune the directory store's part size). */
  blobs?: BlobStore;
  /** Apply pending migrations at start (default true; the Lambda never does). */
  migrate?: boolean;
  /** Run the SQS outbox relay in this process (default true; the Lambda never does). */
  relay?: boolean;
  /** Open the S3 store and SQS queue at their first use (default false; the Lambda does): `RuntimeOptions`. */
  lazyAdapters?: boolean;
  /** Tuning for tests: heartbeat period, reaper sweep period, worker long-poll wait. */
  timing?: {
    heartbeatMs?: number;
    reaperIntervalMs?: number;
    reaperGraceSeconds?: number;
    receiveWaitMs?: number;
    /** Longest sleep of the schedule ticker between looks at the schedules (default 60 s). */
    schedulerMaxSleepMs?: number;
    /** How often the webhook deliverer looks for due deliveries (default 1 s). */
    webhookIntervalMs?: number;
  };
  /**
   * The clock of schedules (next runs, due ticks) and of webhook retries; tests pass a fake one.
   * Default: the system's.
   */
  clock?: () => Date;
  /** How webhook hosts are resolved (default: the system's resolver); tests map names to addresses. */
  webhookResolve?: Resolve;
}

/** What the API needs (server/app.ts `createApp`). */
export interface ApiParts {
  db: Database;
  blobs: BlobStore;
  queue: JobQueue;
  store: JobStore;
  types: JobTypeRegistry;
  live: LiveEvents;
  logger: Logger;
  maxUploadBytes: number;
  /** Direct uploads a user may have open at once (JOBS_MAX_OPEN_UPLOADS). */
  maxOpenUploads: number;
  corsOrigins: string[];
  /**
   * Request rate limit per token and cap on a user's active jobs (JOBS_RATE_LIMIT_PER_MINUTE,
   * JOBS_MAX_ACTIVE_JOBS_PER_USER; 0 turns one off). `sharedCounts` (default: on PostgreSQL)
   * counts requests in the database, for several API hosts; else in memory.
   */
  limits: { requestsPerMinute: number; maxActiveJobsPerUser: number; sharedCounts?: boolean };
  /** Open event streams allowed per token (JOBS_MAX_STREAMS_PER_TOKEN). */
  maxStreamsPerToken: number;
  /** Base URL of links the API hands out (JOBS_PUBLIC_URL); default: its own address. */
  publicUrl?: string;
  /** Deletes finished jobs past their retention (`POST /api/prune`, `jobs prune`). */
  retention: RetentionService;
  /** JOBS_RETENTION_DAYS: the default age of `jobs prune`; 0 keeps jobs forever. */
  retentionDays: number;
  /** The clock of schedules (their next runs); default: the system's. */
  clock?: () => Date;
  /** JOBS_WEBHOOK_ALLOW_PRIVATE: webhook URLs may name private and loopback addresses. */
  webhookAllowPrivate?: boolean;
}

/** A running worker: the queue consumer, with the lease reaper and the schedule ticker beside it. */
export interface StartedWorker {
  /** Stops taking work; running jobs get `graceMs` to finish, then are released. */
  stop(graceMs?: number): Promise<void>;
}

/** One process of the platform, composed from configuration: every entry point starts here. */
export interface Platform {
  readonly config: Config;
  readonly logger: Logger;
  readonly handlers: readonly JobHandler[];
  /** True when this process alone owns the database (PGlite in the data directory). */
  readonly embedded: boolean;
  readonly queueKind: 'database' | 'sqs';
  readonly api: ApiParts;
  /** The processor, Lambda-shaped (an SQS batch in, partial failures out). */
  readonly processor: ProcessBatch;
  /**
   * Starts the queue consumer (`concurrency` jobs at once), the reaper and the schedule ticker.
   * `listenForSchedules: false` (`jobs worker`): the ticker goes by its timer and leaves schedule
   * changes to the API hosts' tickers (ScheduleTickerOptions.listen says why).
   */
  startWorker(opts: { concurrency: number; listenForSchedules?: boolean }): StartedWorker;
  /** Starts the reaper and the schedule ticker alone (an API host whose processor is the Lambda). */
  startReaper(): StartedWorker;
  /**
   * One pass of the schedule ticker: the jobs of every due tick (the Lambda's tick event; tests
   * with a fake clock). Safe beside running tickers: each tick makes one job.
   */
  tickSchedules(): Promise<TickOutcome[]>;
  /**
   * One pass of the webhook deliverer: every due delivery POSTed once (the Lambda's tick event;
   * tests with a fake clock). Safe beside running deliverers (deliveries are claimed SKIP LOCKED).
   */
  deliverWebhooks(): Promise<number>;
  /**
   * One pass of retention (the Lambda's tick event): the finished jobs past JOBS_RETENTION_DAYS
   * deleted with their files; null when retention is off (0 days).
   */
  pruneExpired(): Promise<PruneResult | null>;
  /**
   * Crash recovery at start-up, only for a process that alone owns its data (the embedded
   * server): running jobs claimable again, in-flight messages visible, half-written blobs gone.
   */
  recover(): Promise<void>;
  close(): Promise<void>;
}

/** The built-in job types this configuration offers (`noop` only where enabled). */
export function defaultHandlers(config: Pick<Config, 'enableNoop'>): JobHandler[] {
  return builtinHandlers.filter((h) => h.type !== 'noop' || config.enableNoop);
}

/**
 * The composition root: opens the adapters the configuration names and builds the job store, the
 * processor, the worker and the reaper over them, with the given job types. `jobs server`,
 * `jobs worker`, the Lambda entry, the benches and the tests all start here, so each runs the same
 * composition; nothing else chooses adapters or reads the handler list.
 *
 * @example
 *   const platform = await compose(loadConfig(), { handlers: [...builtinHandlers, myHandler] });
 *   const worker = platform.startWorker({ concurrency: 4 });
 *   // …
 *   await worker.stop(10_000);
 *   await platform.close();
 */
export async function compose(config: Config, opts: ComposeOptions = {}): Promise<Platform> {
  const logger = opts.logger ?? createLogger(config.logLevel);
  const handlers = opts.handlers ?? [
    ...defaultHandlers(config),
    ...(await loadHandlerModules(config.handlerModules)),
  ];
  const byType = handlersByType(handlers);
  const runtime = await openRuntime(config, {
    db: opts.db,
    blobs: opts.blobs,
    migrate: opts.migrate,
    relay: opts.relay,
    lazyAdapters: opts.lazyAdapters,
  });
  const { db, blobs, queue } = runtime;
  // Each type's default priority and the concurrency limits: the handlers' own, overridden by
  // JOBS_TYPE_PRIORITY / JOBS_TYPE_CONCURRENCY / JOBS_MAX_RUNNING_JOBS_PER_USER.
  const scheduling = resolveScheduling(handlers, config);
  const store = new JobStore(db, queue, logger, scheduling.limits);
  const live = new LiveEvents(db);
  const timing = opts.timing ?? {};
  const { delivery, batch: processor } = createProcessor({
    store,
    blobs,
    findHandler: (type) => byType.get(type),
    logger,
    leaseSeconds: config.visibilityTimeoutSeconds,
    heartbeatMs: timing.heartbeatMs,
    extendDelivery: (receipt, seconds) => queue.changeVisibility(receipt, seconds),
    deadLetter: (receipt, jobId) => queue.deadLetter(receipt, jobId),
    receiptOf: (record) => receiptOfRecord(record, config.sqsPriorityQueueUrl),
    maxReceives: config.maxReceives,
    retryBackoff: { baseMs: config.retryBaseMs, maxMs: config.retryMaxMs },
  });
  const retention = new RetentionService({ store, blobs, logger });
  const types = new JobTypeRegistry(handlers, scheduling.priorityOf);
  const clock = opts.clock ?? (() => new Date());
  const webhooks = new WebhookDeliverer({
    prisma: db.prisma,
    logger,
    allowPrivate: config.webhookAllowPrivate,
    timeoutMs: config.webhookTimeoutSeconds * 1000,
    clock,
    resolve: opts.webhookResolve,
  });
  const ticker = (listen = true) =>
    new ScheduleTicker({
      listen,
      db,
      store,
      types,
      logger,
      maxActiveJobsPerUser: config.maxActiveJobsPerUser,
      now: clock,
      maxSleepMs: timing.schedulerMaxSleepMs,
    });
  const startReaper = ({ listenForSchedules = true } = {}) => {
    const reaper = new Reaper({
      store,
      logger,
      leaseSeconds: config.visibilityTimeoutSeconds,
      intervalMs: timing.reaperIntervalMs,
      graceSeconds: timing.reaperGraceSeconds,
    });
    reaper.start();
    // Beside the reaper, in every process that keeps the platform going (`jobs server`, `jobs
    // worker`): the schedules' due ticks, retention, and webhook deliveries.
    const schedules = ticker(listenForSchedules);
    schedules.start();
    const pruning = startRetention(retention, { days: config.retentionDays, logger });
    const delivering = startWebhookDeliverer(webhooks, { logger, intervalMs: timing.webhookIntervalMs });
    return {
      async stop() {
        await Promise.all([reaper.stop(), schedules.stop(), pruning.stop(), delivering.stop()]);
      },
    };
  };
  return {
    config,
    logger,
    handlers,
    embedded: runtime.embedded,
    queueKind: runtime.queueKind,
    api: {
      db,
      blobs,
      queue,
      store,
      retention,
      retentionDays: config.retentionDays,
      types,
      live,
      logger,
      maxUploadBytes: config.maxUploadBytes,
      maxOpenUploads: config.maxOpenUploads,
      corsOrigins: config.corsOrigins,
      maxStreamsPerToken: config.maxStreamsPerToken,
      limits: {
        requestsPerMinute: config.rateLimitPerMinute,
        maxActiveJobsPerUser: config.maxActiveJobsPerUser,
      },
      publicUrl: config.publicUrl,
      clock,
      webhookAllowPrivate: config.webhookAllowPrivate,
    },
    processor,
    startWorker({ concurrency, listenForSchedules }) {
      const worker = new QueueWorker(queue, delivery, {
        concurrency,
        logger,
        waitMs: timing.receiveWaitMs,
        receive: claimingReceive(queue, store, config.visibilityTimeoutSeconds),
      });
      worker.start();
      const reaper = startReaper({ listenForSchedules });
      return {
        async stop(graceMs) {
          await reaper.stop();
          await worker.stop(graceMs);
        },
      };
    },
    startReaper,
    tickSchedules: () => ticker().tick(),
    deliverWebhooks: () => webhooks.deliverDue(),
    pruneExpired: async () =>
      config.retentionDays > 0 ? retention.prune({ olderThanMs: config.retentionDays * 86_400_000 }) : null,
    async recover() {
      if (!runtime.embedded)
        throw new Error('recover() is for a process that alone owns its data (embedded)');
      await store.expireAllLeases();
      await queue.recover?.();
      await blobs.recover?.();
    },
    async close() {
      await live.close();
      await runtime.close();
    },
  };
}
