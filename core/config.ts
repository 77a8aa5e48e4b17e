import path from 'node:path';
import { z } from 'zod';
import { PRIORITY_MAX, PRIORITY_MIN } from './jobs/priority.js';

/**
 * Everything the server, worker and processor read from the environment, parsed and checked in
 * one place. Modules take a `Config` (or the part they need); nothing else reads `process.env`.
 */
export interface Config {
  dataDir: string;
  /** Postgres connection string; absent means embedded PGlite in `<dataDir>/db`. */
  databaseUrl?: string;
  /**
   * Secrets Manager secret with the database password (RDS's `{username,password}` JSON) or the
   * whole URL; resolved once at start (`core/db/database-secret.ts`) and merged into databaseUrl.
   */
  databaseSecretArn?: string;
  port: number;
  host: string;
  maxUploadBytes: number;
  /** Direct uploads one user may have begun and not completed at once (429 beyond). */
  maxOpenUploads: number;
  /** Seconds between sweeps of expired direct uploads (their parts and unused files). */
  uploadSweepIntervalSeconds: number;
  corsOrigins: string[];
  logLevel: string;
  /** `jobs server` / `jobs worker` logs: pretty lines or JSON; unset: pretty on a terminal. */
  logFormat?: 'json' | 'pretty';
  adminToken?: string;
  s3Bucket?: string;
  s3Endpoint?: string;
  /** SSE-KMS key for input objects; S3-managed keys (AES256) when unset. */
  s3KmsKeyId?: string;
  awsRegion?: string;
  /** SQS queue of the jobs with a priority above 0 (core/queue/sqs-priority.ts); unset: one queue. */
  sqsPriorityQueueUrl?: string;
  sqsQueueUrl?: string;
  sqsEndpoint?: string;
  /** The queue's dead-letter queue (for `jobs dlq` and stats). */
  sqsDlqUrl?: string;
  /** Seconds a received message stays hidden (and a claimed job stays leased) without a heartbeat. */
  visibilityTimeoutSeconds: number;
  /** Receives after which a message is dead-lettered (SQS maxReceiveCount). */
  maxReceives: number;
  /** The processor Lambda (`jobs deploy --processor-only`, `jobs doctor`). */
  lambdaFunctionName?: string;
  /** Backoff of retryable failures: base * 2^(attempt-1), capped at max, with jitter. */
  retryBaseMs: number;
  retryMaxMs: number;
  /** Modules with a deployment's own job handlers (JOBS_HANDLERS), as absolute paths. */
  handlerModules: string[];
  /**
   * Whether the built-in `noop` type (which can sleep for a day) is offered. Default: on when the
   * queue is embedded (smoke tests use it), off on SQS deployments unless JOBS_ENABLE_NOOP=true.
   */
  enableNoop: boolean;
  /** Base URL of links the API hands out (direct-upload part URLs); default: its own address. */
  publicUrl?: string;
  /** Event streams one token may hold open at once per API process (429 beyond). */
  maxStreamsPerToken: number;
  /** A request body that sends nothing for this long is cut (its upload removed). */
  bodyIdleTimeoutSeconds: number;
  /** A client gets this long to send a request's headers. */
  headersTimeoutSeconds: number;
  /** An idle keep-alive connection is closed after this long. */
  keepAliveTimeoutSeconds: number;
  /** Connections the API server holds at once; more are refused. */
  maxConnections: number;
  /**
   * API requests allowed per token (per IP address without one) per minute, across every API host
   * (counted in the database; in memory when embedded); 0 disables the limit.
   */
  rateLimitPerMinute: number;
  /** Jobs a user may have PENDING or RUNNING at once (more answer 429); 0 disables the cap. */
  maxActiveJobsPerUser: number;
  /** JOBS_TYPE_PRIORITY: a job type's default priority, over its handler's (core/jobs/scheduling.ts). */
  typePriority: ReadonlyMap<string, number>;
  /** JOBS_TYPE_CONCURRENCY: at most this many jobs of a type RUNNING at once, across every worker. */
  typeConcurrency: ReadonlyMap<string, number>;
  /** JOBS_MAX_RUNNING_JOBS_PER_USER: at most this many of a user's jobs RUNNING at once; 0: no cap. */
  maxRunningJobsPerUser: number;
  /**
   * JOBS_SQS_DISPATCH_WINDOW: fair sharing on SQS, at most this many of an owner's messages sent
   * and not yet started (core/queue/outbox.ts); 0: the relay sends every due message at once.
   */
  sqsDispatchWindow: number;
  /** Finished jobs are deleted this many days after they end, with their logs and inputs; 0 keeps them. */
  retentionDays: number;
  /**
   * Webhooks may go to private, loopback and link-local addresses (a receiver beside the
   * platform, tests). Off by default: a webhook is a request made on a user's behalf (SSRF).
   */
  webhookAllowPrivate: boolean;
  /** Seconds one webhook POST may take before the attempt counts as failed. */
  webhookTimeoutSeconds: number;
}

const GiB = 1024 ** 3;

export const DEFAULT_MAX_STREAMS_PER_TOKEN = 20;

const intFrom = (name: string) =>
  z.coerce
    .number({ error: `${name} must be a number` })
    .int(`${name} must be a whole number`)
    .positive(`${name} must be positive`);

/** A whole number >= 0 (0 turns a limit off). */
/**
 * An owner's messages sent to SQS and not yet started, at most (fair sharing on SQS): another
 * owner's job waits behind at most this many of theirs (issue 15: before the 10th). Larger lets
 * one owner alone keep more workers fed between two wake-ups of the relay.
 */
export const DEFAULT_SQS_DISPATCH_WINDOW = 5;

const countFrom = (name: string) =>
  z.coerce
    .number({ error: `${name} must be a number` })
    .int(`${name} must be a whole number`)
    .min(0, `${name} must be 0 (no limit) or more`);

const envSchema = z.object({
  JOBS_DATA_DIR: z.string().min(1).optional(),
  JOBS_DATABASE_SECRET_ARN: z
    .string()
    .regex(/^arn:aws[a-z-]*:secretsmanager:/, 'JOBS_DATABASE_SECRET_ARN must be a Secrets Manager ARN')
    .optional(),
  JOBS_LAMBDA_FUNCTION_NAME: z.string().min(1).optional(),
  DATABASE_URL: z
    .string()
    .regex(/^postgres(ql)?:\/\//, 'DATABASE_URL must be a postgresql:// URL')
    .optional(),
  PORT: intFrom('PORT').max(65535).default(8080),
  JOBS_HOST: z.string().min(1).default('127.0.0.1'),
  JOBS_MAX_UPLOAD_BYTES: intFrom('JOBS_MAX_UPLOAD_BYTES').default(5 * GiB),
  JOBS_MAX_OPEN_UPLOADS: intFrom('JOBS_MAX_OPEN_UPLOADS').default(20),
  JOBS_UPLOAD_SWEEP_INTERVAL_SECONDS: intFrom('JOBS_UPLOAD_SWEEP_INTERVAL_SECONDS').default(600),
  JOBS_CORS_ORIGINS: z.string().default(''),
  JOBS_LOG_LEVEL: z.enum(['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent']).default('info'),
  JOBS_LOG_FORMAT: z.enum(['json', 'pretty'], { error: 'JOBS_LOG_FORMAT must be json or pretty' }).optional(),
  JOBS_ADMIN_TOKEN: z.string().min(16, 'JOBS_ADMIN_TOKEN must be at least 16 characters').optional(),
  JOBS_S3_BUCKET: z.string().min(1).optional(),
  JOBS_S3_ENDPOINT: z.string().url().optional(),
  JOBS_S3_KMS_KEY_ID: z.string().min(1).optional(),
  AWS_REGION: z.string().min(1).optional(),
  JOBS_SQS_QUEUE_URL: z.string().url().optional(),
  JOBS_SQS_ENDPOINT: z.string().url().optional(),
  JOBS_SQS_DLQ_URL: z.string().url().optional(),
  JOBS_SQS_PRIORITY_QUEUE_URL: z.string().url().optional(),
  JOBS_VISIBILITY_TIMEOUT_SECONDS: intFrom('JOBS_VISIBILITY_TIMEOUT_SECONDS').default(30),
  JOBS_MAX_RECEIVES: intFrom('JOBS_MAX_RECEIVES').default(5),
  JOBS_RETRY_BASE_MS: intFrom('JOBS_RETRY_BASE_MS').default(2_000),
  JOBS_RETRY_MAX_MS: intFrom('JOBS_RETRY_MAX_MS').default(15 * 60_000),
  JOBS_HANDLERS: z.string().optional(),
  JOBS_ENABLE_NOOP: z
    .enum(['true', 'false', '1', '0'], { error: 'JOBS_ENABLE_NOOP must be true or false' })
    .optional(),
  JOBS_PUBLIC_URL: z
    .string()
    .regex(
      /^https?:\/\/[^/?#\s]+\/?$/,
      'JOBS_PUBLIC_URL must be an http(s) URL without a path, e.g. https://jobs.example.com',
    )
    .optional(),
  JOBS_MAX_STREAMS_PER_TOKEN: intFrom('JOBS_MAX_STREAMS_PER_TOKEN').default(DEFAULT_MAX_STREAMS_PER_TOKEN),
  JOBS_BODY_IDLE_TIMEOUT_SECONDS: intFrom('JOBS_BODY_IDLE_TIMEOUT_SECONDS').default(30),
  JOBS_HEADERS_TIMEOUT_SECONDS: intFrom('JOBS_HEADERS_TIMEOUT_SECONDS').default(20),
  JOBS_KEEP_ALIVE_TIMEOUT_SECONDS: intFrom('JOBS_KEEP_ALIVE_TIMEOUT_SECONDS').default(5),
  JOBS_MAX_CONNECTIONS: intFrom('JOBS_MAX_CONNECTIONS').default(1000),
  JOBS_RATE_LIMIT_PER_MINUTE: countFrom('JOBS_RATE_LIMIT_PER_MINUTE').default(600),
  JOBS_MAX_ACTIVE_JOBS_PER_USER: countFrom('JOBS_MAX_ACTIVE_JOBS_PER_USER').default(1000),
  JOBS_RETENTION_DAYS: countFrom('JOBS_RETENTION_DAYS').default(30),
  JOBS_WEBHOOK_ALLOW_PRIVATE: z
    .enum(['true', 'false', '1', '0'], { error: 'JOBS_WEBHOOK_ALLOW_PRIVATE must be true or false' })
    .optional(),
  JOBS_WEBHOOK_TIMEOUT_SECONDS: intFrom('JOBS_WEBHOOK_TIMEOUT_SECONDS').max(60).default(10),
  JOBS_TYPE_PRIORITY: z.string().default(''),
  JOBS_TYPE_CONCURRENCY: z.string().default(''),
  JOBS_MAX_RUNNING_JOBS_PER_USER: countFrom('JOBS_MAX_RUNNING_JOBS_PER_USER').default(0),
  JOBS_SQS_DISPATCH_WINDOW: countFrom('JOBS_SQS_DISPATCH_WINDOW').default(DEFAULT_SQS_DISPATCH_WINDOW),
});

export class ConfigError extends Error {
  override name = 'ConfigError';
}

/**
 * Parses a `type=number,type=number` setting (JOBS_TYPE_CONCURRENCY, JOBS_TYPE_PRIORITY); each
 * number must be a whole number within `min..max`. Throws ConfigError naming the variable.
 *
 * @example
 * parseTypeNumbers('db-migrate=2,csv-import=4', 'JOBS_TYPE_CONCURRENCY', 0, 10_000)
 * // Map { 'db-migrate' => 2, 'csv-import' => 4 }
 */
export function parseTypeNumbers(text: string, name: string, min: number, max: number): Map<string, number> {
  const out = new Map<string, number>();
  for (const part of text
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)) {
    const m = /^([^=\s]+)\s*=\s*(-?\d+)$/.exec(part);
    const n = m ? Number(m[2]) : NaN;
    if (!m || !Number.isSafeInteger(n) || n < min || n > max)
      throw new ConfigError(
        `Invalid configuration: ${name}: expected type=number pairs separated by commas, each number ${min} to ${max} (e.g. db-migrate=2); got ${JSON.stringify(part)}`,
      );
    out.set(m[1], n);
  }
  return out;
}

/** Reads configuration from an environment (default `process.env`); flags passed in `overrides` win. */
export function loadConfig(
  env: Record<string, string | undefined> = process.env,
  overrides: Partial<Config> = {},
): Config {
  // Empty variables count as unset, as in most twelve-factor tools.
  const cleaned = Object.fromEntries(Object.entries(env).filter(([, v]) => v !== undefined && v !== ''));
  const parsed = envSchema.safeParse(cleaned);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new ConfigError(
      `Invalid configuration: ${issue.path.join('.') || 'environment'}: ${issue.message}`,
    );
  }
  const e = parsed.data;
  const config: Config = {
    dataDir: path.resolve(e.JOBS_DATA_DIR ?? '.jobs'),
    databaseUrl: e.DATABASE_URL,
    databaseSecretArn: e.JOBS_DATABASE_SECRET_ARN,
    port: e.PORT,
    host: e.JOBS_HOST,
    maxUploadBytes: e.JOBS_MAX_UPLOAD_BYTES,
    maxOpenUploads: e.JOBS_MAX_OPEN_UPLOADS,
    uploadSweepIntervalSeconds: e.JOBS_UPLOAD_SWEEP_INTERVAL_SECONDS,
    corsOrigins: e.JOBS_CORS_ORIGINS.split(',')
      .map((s) => s.trim())
      .filter(Boolean),
    logLevel: e.JOBS_LOG_LEVEL,
    logFormat: e.JOBS_LOG_FORMAT,
    adminToken: e.JOBS_ADMIN_TOKEN,
    s3Bucket: e.JOBS_S3_BUCKET,
    s3Endpoint: e.JOBS_S3_ENDPOINT,
    s3KmsKeyId: e.JOBS_S3_KMS_KEY_ID,
    awsRegion: e.AWS_REGION,
    sqsQueueUrl: e.JOBS_SQS_QUEUE_URL,
    sqsEndpoint: e.JOBS_SQS_ENDPOINT,
    sqsDlqUrl: e.JOBS_SQS_DLQ_URL,
    sqsPriorityQueueUrl: e.JOBS_SQS_PRIORITY_QUEUE_URL,
    visibilityTimeoutSeconds: e.JOBS_VISIBILITY_TIMEOUT_SECONDS,
    maxReceives: e.JOBS_MAX_RECEIVES,
    lambdaFunctionName: e.JOBS_LAMBDA_FUNCTION_NAME,
    retryBaseMs: e.JOBS_RETRY_BASE_MS,
    retryMaxMs: e.JOBS_RETRY_MAX_MS,
    handlerModules: (e.JOBS_HANDLERS ?? '')
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean)
      .map((p) => path.resolve(p)),
    enableNoop: e.JOBS_ENABLE_NOOP ? ['true', '1'].includes(e.JOBS_ENABLE_NOOP) : !e.JOBS_SQS_QUEUE_URL,
    publicUrl: e.JOBS_PUBLIC_URL?.replace(/\/+$/, ''),
    maxStreamsPerToken: e.JOBS_MAX_STREAMS_PER_TOKEN,
    bodyIdleTimeoutSeconds: e.JOBS_BODY_IDLE_TIMEOUT_SECONDS,
    headersTimeoutSeconds: e.JOBS_HEADERS_TIMEOUT_SECONDS,
    keepAliveTimeoutSeconds: e.JOBS_KEEP_ALIVE_TIMEOUT_SECONDS,
    maxConnections: e.JOBS_MAX_CONNECTIONS,
    rateLimitPerMinute: e.JOBS_RATE_LIMIT_PER_MINUTE,
    maxActiveJobsPerUser: e.JOBS_MAX_ACTIVE_JOBS_PER_USER,
    retentionDays: e.JOBS_RETENTION_DAYS,
    webhookAllowPrivate: ['true', '1'].includes(e.JOBS_WEBHOOK_ALLOW_PRIVATE ?? 'false'),
    webhookTimeoutSeconds: e.JOBS_WEBHOOK_TIMEOUT_SECONDS,
    typePriority: parseTypeNumbers(e.JOBS_TYPE_PRIORITY, 'JOBS_TYPE_PRIORITY', PRIORITY_MIN, PRIORITY_MAX),
    typeConcurrency: parseTypeNumbers(e.JOBS_TYPE_CONCURRENCY, 'JOBS_TYPE_CONCURRENCY', 0, 1_000_000),
    maxRunningJobsPerUser: e.JOBS_MAX_RUNNING_JOBS_PER_USER,
    sqsDispatchWindow: e.JOBS_SQS_DISPATCH_WINDOW,
  };
  const defined = Object.fromEntries(Object.entries(overrides).filter(([, v]) => v !== undefined));
  const merged = { ...config, ...defined };
  merged.dataDir = path.resolve(merged.dataDir);
  // Frozen: a Config is read, never changed (an entry point that needs another makes a new one).
  return Object.freeze(merged);
}
