import { z } from 'zod';
import { JOB_STATUSES, type JobStatus } from '../core/jobs/job-dto.js';
import { PERMISSIONS } from '../core/auth/principal.js';
import { MAX_CRON_LENGTH } from '../core/schedules/cron.js';
import { MISSED_TICKS, type MissedTicks } from '../core/schedules/schedule-dto.js';
import { PRIORITY_MAX, PRIORITY_MIN } from '../core/jobs/priority.js';
import { ERROR_CODES } from './error-codes.js';

/**
 * Request shapes the routes validate with, and the response shapes they answer: the route
 * declarations (server/routes/) name them, the OpenAPI document is generated from them, and the
 * CLI's response types are inferred from them (cli/lib/api-types.ts, type-only).
 */

const boolString = z.enum(['true', 'false', '1', '0']).transform((v) => v === 'true' || v === '1');

export const listJobsQuery = z.object({
  status: z.enum(JOB_STATUSES as [JobStatus, ...JobStatus[]]).optional(),
  type: z.string().min(1).max(100).optional(),
  limit: z.coerce.number().int().min(1).max(100).default(20),
  cursor: z.string().min(1).max(200).optional(),
  all: boolString.optional(),
  idPrefix: z
    .string()
    .regex(/^[0-9a-fA-F-]{4,36}$/, 'idPrefix must be the start of a job id: 4 to 36 hex digits and dashes')
    .optional(),
});

/** A job's priority: a whole number within the bounds (core/jobs/priority.ts says why bounded). */
const priorityMessage = `priority must be a whole number from ${PRIORITY_MIN} to ${PRIORITY_MAX} (higher runs first)`;
export const prioritySchema = z
  .number({ error: priorityMessage })
  .int(priorityMessage)
  .min(PRIORITY_MIN, priorityMessage)
  .max(PRIORITY_MAX, priorityMessage);
/** The multipart form field: an optional minus and digits only, then the same bounds. */
export const priorityField = z
  .string()
  .regex(/^-?\d{1,3}$/, priorityMessage)
  .transform(Number)
  .pipe(prioritySchema);

/** Log seqs are PostgreSQL `integer`s: a larger cursor is a client error, not a query to run. */
export const MAX_LOG_SEQ = 2_147_483_647;

export const logsQuery = z.object({
  after: z.coerce
    .number()
    .int('after must be a whole number (a log seq)')
    .min(0, 'after must be a log seq from 0')
    .max(MAX_LOG_SEQ, `after must be a log seq up to ${MAX_LOG_SEQ}`)
    .default(0),
  limit: z.coerce.number().int().min(1).max(5000).default(1000),
});

/** Bounds of a job's maxAttempts override. */
export const MAX_ATTEMPTS_LIMIT = 20;
const maxAttemptsMessage = `maxAttempts must be a whole number from 1 to ${MAX_ATTEMPTS_LIMIT}`;
export const maxAttemptsSchema = z
  .number({ error: maxAttemptsMessage })
  .int(maxAttemptsMessage)
  .min(1, maxAttemptsMessage)
  .max(MAX_ATTEMPTS_LIMIT, maxAttemptsMessage);
/** The multipart form field: digits only (no "1e1", no " 3"), then the same bounds. */
export const maxAttemptsField = z
  .string()
  .regex(/^\d{1,3}$/, maxAttemptsMessage)
  .transform(Number)
  .pipe(maxAttemptsSchema);

export const createJobBody = z.object({
  type: z.string({ error: 'type is required' }).min(1, 'type is required').max(100),
  params: z.record(z.string(), z.unknown(), { error: 'params must be a JSON object' }).optional(),
  /** A completed direct upload (POST /api/uploads) to use as the job's input. */
  uploadId: z.string().uuid('uploadId must be a uuid').optional(),
  /** Overrides the job type's maxAttempts for this job. */
  maxAttempts: maxAttemptsSchema.optional(),
  /** A delayed job: "90s", "10m", "2h", "7d" from now (core/jobs/run-at.ts checks it)… */
  delay: z.string({ error: 'delay must be a string such as "10m"' }).max(20).optional(),
  /** …or an ISO 8601 time with its zone. */
  runAt: z.string({ error: 'runAt must be an ISO 8601 string' }).max(40).optional(),
  /** Where the job's end is POSTed, signed (core/webhooks/ checks it: http(s), public address). */
  webhookUrl: z
    .string({ error: 'webhookUrl must be a string such as "https://example.com/hooks/jobs"' })
    .max(2048, 'webhookUrl must be at most 2048 characters')
    .optional()
    .describe(
      "an http(s) URL the job's end is POSTed to (the job's JSON, signed: README, Webhooks); default: the owner's (PUT /api/webhooks/default)",
    ),
  /** Higher first; absent: the job type's default (core/jobs/scheduling.ts). */
  priority: prioritySchema.optional(),
});

/** The most jobs one POST /api/jobs/batch may hold. */
export const MAX_BATCH_JOBS = 1000;

/**
 * One job of a batch: as POST /api/jobs's JSON body, with its own `idempotencyKey`; no input file
 * (no `uploadId`). Strict: a misspelt field is an error of that job, not silently ignored.
 */
export const batchJobItem = z.strictObject(
  {
    type: createJobBody.shape.type,
    params: createJobBody.shape.params,
    idempotencyKey: z
      .string({ error: 'idempotencyKey must be a string' })
      .min(1, 'idempotencyKey must not be empty')
      .max(200, 'idempotencyKey must be at most 200 characters')
      .optional()
      .describe('like the Idempotency-Key header of POST /api/jobs, for this job'),
    maxAttempts: maxAttemptsSchema.optional(),
    uploadId: z
      .unknown()
      .refine((v) => v === undefined, {
        message: 'a batch job takes no input file; create jobs with files one by one (POST /api/jobs)',
      })
      .optional(),
    delay: createJobBody.shape.delay,
    runAt: createJobBody.shape.runAt,
    webhookUrl: createJobBody.shape.webhookUrl,
    priority: createJobBody.shape.priority,
  },
  {
    error: (iss) =>
      iss.code === 'invalid_type'
        ? 'each job must be a JSON object {type, params, idempotencyKey?}'
        : undefined,
  },
);

const batchSizeMessage = `a batch holds 1 to ${MAX_BATCH_JOBS} jobs; send more in several batches`;

/**
 * The batch envelope as the route reads it: each job is checked on its own afterwards
 * (`batchJobItem`), so one bad job is that job's error, not the batch's.
 */
export const jobsBatchEnvelope = z.object(
  {
    jobs: z
      .array(z.unknown(), { error: 'jobs must be an array of jobs' })
      .min(1, { error: () => `jobs is empty: ${batchSizeMessage}` })
      .max(MAX_BATCH_JOBS, {
        error: (iss) => `jobs holds ${(iss.input as unknown[]).length} jobs: ${batchSizeMessage}`,
      }),
  },
  { error: 'the body must be a JSON object {"jobs":[…]}' },
);

/** The batch as documented (OpenAPI): the envelope with each job's shape. */
export const createJobsBatchBody = z.object({
  jobs: z.array(batchJobItem).min(1).max(MAX_BATCH_JOBS),
});

const sha256Schema = z
  .string()
  .regex(/^[0-9a-fA-F]{64}$/, 'sha256 must be 64 hex digits')
  .transform((v) => v.toLowerCase());

export const beginUploadBody = z.object({
  fileName: z.string({ error: 'fileName is required' }).min(1, 'fileName is required'),
  size: z
    .number({ error: 'size is required (bytes)' })
    .int('size must be a whole number of bytes')
    .positive('size must be positive (the file is empty)')
    .max(Number.MAX_SAFE_INTEGER),
  sha256: sha256Schema
    .optional()
    .describe('the file’s SHA-256 (hex); may be left out here and given when completing instead'),
});

export const completeUploadBody = z.object({
  sha256: sha256Schema
    .optional()
    .describe(
      'the file’s SHA-256 (hex), when it was not given when the upload began; optional when the upload is `sequential` (the store hashes the bytes itself)',
    ),
  parts: z
    .array(
      z.object({
        partNumber: z.number().int().min(1).max(10_000),
        etag: z.string().min(1).max(200),
      }),
    )
    .min(1, 'parts must list every part')
    .max(10_000),
});

export const uploadPartQuery = z.object({
  expires: z.string().regex(/^\d+$/, 'expires is required'),
  signature: z.string().regex(/^[0-9a-f]{64}$/, 'signature is required'),
});

export const dlqListQuery = z.object({
  limit: z.coerce.number().int().min(1).max(1000).default(100),
});

export const dlqRedriveBody = z.object({
  ids: z.array(z.string().uuid('ids must be job ids (uuids)')).min(1).max(1000).optional(),
});

export const idempotencyKeyHeader = z.string().min(1).max(200);

// --- Schedules ----------------------------------------------------------------------------------

const cronField = z
  .string({ error: 'cron is required (a cron expression like "*/5 * * * *")' })
  .min(1, 'cron is required (a cron expression like "*/5 * * * *")')
  .max(MAX_CRON_LENGTH, `cron must be at most ${MAX_CRON_LENGTH} characters`)
  .describe(
    '5 fields (minute hour day-of-month month day-of-week, e.g. `*/5 * * * *`) or 6 with seconds first (`*/10 * * * * *`); read by croner',
  );
const timezoneField = z
  .string({ error: 'timezone must be a string (an IANA time zone like Europe/Paris)' })
  .min(1, 'timezone must not be empty')
  .max(100)
  .describe('IANA time zone the expression is read in (default UTC), e.g. `Europe/Paris`');
const scheduleName = z.string({ error: 'name must be a string' }).min(1, 'name must not be empty').max(100);
const missedField = z
  .enum(MISSED_TICKS as [MissedTicks, ...MissedTicks[]], { error: 'missed must be run-once or skip' })
  .describe(
    'ticks missed while nothing ran (more than two minutes late): `run-once` (default) creates one job for the latest, `skip` none',
  );

/** POST /api/schedules. Strict: a misspelt field is an error, not silently ignored. */
export const createScheduleBody = z.strictObject(
  {
    cron: cronField,
    type: createJobBody.shape.type,
    params: createJobBody.shape.params,
    name: scheduleName.optional(),
    timezone: timezoneField.optional(),
    missed: missedField.optional(),
    paused: z.boolean({ error: 'paused must be true or false' }).optional().describe('create it paused'),
  },
  {
    error: (iss) =>
      iss.code === 'invalid_type'
        ? 'the body must be a JSON object {cron, type, params?, name?, timezone?}'
        : undefined,
  },
);

/** PATCH /api/schedules/:id: the fields given replace the schedule's (`params` as a whole). */
export const patchScheduleBody = z
  .strictObject(
    {
      cron: cronField.optional(),
      type: createJobBody.shape.type.optional(),
      params: createJobBody.shape.params,
      name: scheduleName.nullable().optional().describe('null removes the name'),
      timezone: timezoneField.optional(),
      missed: missedField.optional(),
      paused: z
        .boolean({ error: 'paused must be true or false' })
        .optional()
        .describe(
          'true pauses; false resumes from the next tick after now (ticks while paused are not made up)',
        ),
    },
    {
      error: (iss) =>
        iss.code === 'invalid_type' ? 'the body must be a JSON object of the fields to change' : undefined,
    },
  )
  .refine((b) => Object.keys(b).length > 0, {
    message: 'nothing to change: give at least one of cron, type, params, name, timezone, missed, paused',
  });

export const listSchedulesQuery = z.object({
  all: boolString.optional(),
  limit: z.coerce.number().int().min(1).max(1000).default(100),
});

export const createTokenBody = z.object({
  user: z.string({ error: 'user is required' }).min(1).max(100),
  admin: z.boolean().optional(),
  name: z.string().min(1).max(100).optional(),
  permissions: z
    .array(z.enum(PERMISSIONS))
    .min(1)
    .optional()
    .describe('default: every permission with `admin`, else job:Create and job:Read'),
  expiresIn: z
    .string()
    .max(20)
    .optional()
    .describe('lifetime from now: a number and s, m, h, d or w (`90d`); at most 3650 days'),
  expiresAt: z.iso
    .datetime({ offset: true })
    .optional()
    .describe('the instant the token expires (ISO 8601); instead of expiresIn'),
});

// --- Response shapes ----------------------------------------------------------------------------
// What the routes answer, for the OpenAPI document (server/openapi.ts). Strict objects: the test
// of the document parses real answers with them, so a field added to a DTO without its doc fails.

/** The named response shapes: `components.schemas` of the OpenAPI document. */
export const responseSchemas = z.registry<{ id: string }>();

const isoDate = z.iso.datetime({ offset: true }).describe('ISO 8601 timestamp');
const roleSchema = z
  .enum(['user', 'admin'])
  .describe(
    'the token’s role: admin when it holds an admin permission (job:ReadAll, job:ManageAll, token:Manage, dlq:Manage)',
  );

export const errorResponse = z
  .strictObject({
    error: z.strictObject({
      code: z.enum(ERROR_CODES).describe('stable machine-readable code (server/errors.ts lists them)'),
      message: z.string().describe('one sentence for humans'),
      details: z.unknown().optional(),
    }),
  })
  .register(responseSchemas, { id: 'Error' });

export const jobOutput = z
  .strictObject({
    name: z.string().describe('its file name: letters, digits, ".", "_" and "-", at most 128 characters'),
    size: z.int().min(0).describe('bytes'),
    sha256: z.string().describe('hex SHA-256 of its bytes (also its ETag)'),
    contentType: z.string(),
  })
  .register(responseSchemas, { id: 'JobOutput' });

export const jobResponse = z
  .strictObject({
    id: z.uuid(),
    type: z.string(),
    status: z.enum(JOB_STATUSES as [JobStatus, ...JobStatus[]]),
    params: z.record(z.string(), z.unknown()),
    input: z.strictObject({ name: z.string(), size: z.int().min(0), sha256: z.string() }).nullable(),
    progress: z.strictObject({ done: z.number(), total: z.number().nullable() }).nullable(),
    result: z
      .unknown()
      .describe(
        'the handler’s result (COMPLETED) or failure data; null otherwise. Stored as JSON of at most 64 KiB: ' +
          'longer arrays, objects and strings are cut, ending in "… (N more items)", a "…" key or ' +
          '"… (N more characters)"; {"truncated":true,"bytes":N} when that is not enough',
      ),
    error: z.string().nullable().describe('at most 4,096 characters, then "… (N more characters)"'),
    attempts: z.int().min(0),
    maxAttempts: z.int().min(1),
    ownerId: z.uuid(),
    createdAt: isoDate,
    startedAt: isoDate.nullable(),
    finishedAt: isoDate.nullable(),
    updatedAt: isoDate,
    cancelRequestedAt: isoDate
      .nullable()
      .describe('when cancelling this RUNNING job was asked for; its processor then ends it (CANCELLED)'),
    scheduleId: z
      .uuid()
      .nullable()
      .describe(
        'the schedule whose tick created this job (GET /api/schedules/{id}); null when submitted directly',
      ),
    scheduleTickAt: isoDate
      .nullable()
      .describe(
        'the tick of its schedule this job is for (a job caught up after downtime names the tick it stands for); null when submitted directly',
      ),
    runAt: isoDate
      .nullable()
      .describe('a delayed job (`delay` or `runAt` at submit) starts no sooner than this; null: at once'),
    webhookUrl: z
      .string()
      .nullable()
      .describe(
        "where the job's end is POSTed (its own `webhookUrl`, else its owner's default at submit); null: no webhook",
      ),
    outputs: z
      .array(jobOutput)
      .describe(
        'files the handler wrote, each complete (one being written, or of an attempt that was retried, is not listed); ' +
          'download with GET /api/jobs/{id}/outputs/{name}',
      ),
    priority: z
      .number()
      .int()
      .describe(
        `higher first (${PRIORITY_MIN} to ${PRIORITY_MAX}; default 0, or the job type's): orders the owner's waiting jobs; free slots still go round the owners`,
      ),
  })
  .register(responseSchemas, { id: 'Job' });

const batchJobError = z
  .strictObject({
    status: z.int().min(400).describe('what a POST /api/jobs of this job alone would have answered'),
    error: errorResponse.shape.error,
  })
  .describe(
    'this job was not created: its own error (400 validation, 422 idempotency_conflict, 429 quota_exceeded…)',
  );

export const jobsBatchResponse = z
  .strictObject({
    created: z.int().min(0).describe('jobs created by this batch'),
    existing: z.int().min(0).describe('jobs answered with the earlier job of their idempotencyKey'),
    failed: z.int().min(0).describe('jobs with an error'),
    results: z
      .array(
        z.union([
          z
            .strictObject({
              status: z.union([z.literal(201), z.literal(200)]),
              job: jobResponse,
            })
            .describe('201: created; 200: the earlier job of its idempotencyKey (same request)'),
          batchJobError,
        ]),
      )
      .describe('one per job sent, in the same order'),
  })
  .register(responseSchemas, { id: 'JobBatchResult' });

export const jobPageResponse = z
  .strictObject({
    items: z.array(jobResponse),
    nextCursor: z.string().nullable().describe('pass as `cursor` for the next page; null on the last'),
  })
  .register(responseSchemas, { id: 'JobPage' });

export const logLineResponse = z
  .strictObject({
    seq: z.int().min(1).describe('1, 2, 3… per job, in write order'),
    ts: isoDate,
    level: z.enum(['info', 'warn', 'error']),
    message: z.string().describe('at most 4,000 characters (then "…")'),
    data: z.unknown().describe('JSON of at most 8 KiB, cut like a job’s `result`'),
  })
  .register(responseSchemas, { id: 'LogLine' });

export const logPageResponse = z
  .strictObject({
    items: z.array(logLineResponse),
    nextAfter: z.int().nullable().describe('pass as `after` for more lines; null when none are left now'),
  })
  .register(responseSchemas, { id: 'LogPage' });

export const jobTypeResponse = z
  .strictObject({
    type: z.string(),
    description: z.string(),
    input: z.enum(['required', 'optional', 'none']),
    params: z.record(z.string(), z.unknown()).describe('JSON Schema of the params'),
  })
  .register(responseSchemas, { id: 'JobType' });

export const meResponse = z
  .strictObject({
    userId: z.uuid(),
    name: z.string(),
    role: roleSchema,
    permissions: z.array(z.enum(PERMISSIONS)),
  })
  .register(responseSchemas, { id: 'Me' });

export const tokenResponse = z
  .strictObject({
    id: z.uuid(),
    name: z.string(),
    userId: z.uuid(),
    userName: z.string(),
    role: roleSchema,
    permissions: z.array(z.enum(PERMISSIONS)).describe('effective: within what the user’s role allows'),
    createdAt: isoDate,
    lastUsedAt: isoDate.nullable().describe('updated at most once a minute'),
    expiresAt: isoDate.nullable().describe('null: never expires'),
    revokedAt: isoDate.nullable(),
  })
  .register(responseSchemas, { id: 'Token' });

export const tokenListResponse = z
  .strictObject({ items: z.array(tokenResponse).describe('newest first; never their secrets') })
  .register(responseSchemas, { id: 'TokenList' });

export const createdTokenResponse = z
  .strictObject({
    id: z.uuid(),
    token: z.string().describe('the secret: shown this once only'),
    userId: z.uuid(),
    role: roleSchema,
    name: z.string(),
    permissions: z.array(z.enum(PERMISSIONS)),
    createdAt: isoDate,
    expiresAt: isoDate.nullable().describe('null: never expires'),
  })
  .register(responseSchemas, { id: 'CreatedToken' });

export const begunUploadResponse = z
  .strictObject({
    uploadId: z.uuid(),
    key: z.string().describe('where the object is stored, chosen by the server'),
    partSize: z.int().min(1),
    parts: z.array(
      z.strictObject({
        partNumber: z.int().min(1),
        url: z.url().describe('presigned: PUT the part’s bytes here, no Authorization header'),
        method: z.literal('PUT'),
      }),
    ),
    expiresAt: isoDate,
    sequential: z
      .boolean()
      .describe(
        'true: send the parts one at a time, in order (the directory store hashes each as it arrives, so completing reads nothing back; parts sent otherwise are accepted and hashed at completion); false: in parallel, in any order (S3)',
      ),
  })
  .register(responseSchemas, { id: 'BegunUpload' });

export const completedUploadResponse = z
  .strictObject({ uploadId: z.uuid(), size: z.int().min(1), status: z.literal('COMPLETED') })
  .register(responseSchemas, { id: 'CompletedUpload' });

export const deadLetterListResponse = z
  .strictObject({
    items: z.array(jobResponse.extend({ deadLetteredAt: isoDate })),
    total: z.int().min(0).describe('dead-lettered jobs in all (items holds the newest `limit`)'),
    queueDeadLetters: z.int().min(0).describe("messages in the queue's dead letters (SQS: the DLQ)"),
  })
  .register(responseSchemas, { id: 'DeadLetterList' });

export const redriveResponse = z
  .strictObject({
    requeued: z.array(z.uuid()).describe('jobs put back to PENDING with fresh attempts and a new message'),
    movedMessages: z.int().min(0).describe('dead-letter messages moved back to the queue'),
    droppedMessages: z.int().min(0).describe('dead-letter messages deleted: their job got a new message'),
  })
  .register(responseSchemas, { id: 'RedriveResult' });

export const pruneBody = z.strictObject({
  olderThan: z
    .string()
    .max(20)
    .optional()
    .describe(
      'jobs that finished longer ago than this, e.g. "7d", "12h" (units s m h d w); default JOBS_RETENTION_DAYS',
    ),
  dryRun: z.boolean().default(false).describe('only count what would be deleted'),
});

export const pruneResponse = z
  .strictObject({
    dryRun: z.boolean(),
    cutoff: z.iso.datetime().describe('jobs that finished before this moment'),
    jobs: z.int().min(0).describe('finished jobs deleted (in a dry run: that would be)'),
    inputs: z.int().min(0).describe('input files deleted from the blob store'),
    outputs: z.int().min(0).describe('output files deleted from the blob store'),
    oldest: z.iso.datetime().nullable().describe('dry run: when the oldest of them finished'),
  })
  .register(responseSchemas, { id: 'PruneResult' });

export const scheduleResponse = z
  .strictObject({
    id: z.uuid(),
    name: z.string().nullable(),
    cron: z.string(),
    timezone: z.string(),
    type: z.string(),
    params: z.record(z.string(), z.unknown()).describe('the job params, defaults applied'),
    paused: z.boolean(),
    missed: z.enum(MISSED_TICKS as [MissedTicks, ...MissedTicks[]]),
    nextRunAt: isoDate.nullable().describe('the next tick that will create a job; null while paused'),
    lastRunAt: isoDate.nullable().describe('the tick of the last job this schedule created'),
    lastJobId: z.uuid().nullable().describe('the last job this schedule created'),
    lastError: z
      .string()
      .nullable()
      .describe('why the last due tick created no job (the owner’s active-jobs quota, a job type gone)'),
    ownerId: z.uuid(),
    createdAt: isoDate,
    updatedAt: isoDate,
  })
  .register(responseSchemas, { id: 'Schedule' });

export const scheduleListResponse = z
  .strictObject({ items: z.array(scheduleResponse).describe('newest first, up to `limit`') })
  .register(responseSchemas, { id: 'ScheduleList' });

export const downloadLinkResponse = z
  .strictObject({
    url: z.string().describe('absolute (S3) or a path on this API (directory store)'),
    expiresAt: isoDate,
  })
  .register(responseSchemas, { id: 'DownloadLink' });

/** The query of a signed download link (`POST …/link` makes them); a bearer request has none. */
export const signedLinkQuery = z.object({
  expires: z.string().optional().describe('signed links: when the link expires (epoch seconds)'),
  signature: z.string().optional().describe('signed links: the link’s signature (then no bearer token)'),
});

export const healthResponse = z.strictObject({ status: z.literal('ok') });

export const readyResponse = z.strictObject({
  status: z.enum(['ok', 'unavailable']),
  checks: z.record(z.string(), z.string()).describe('per dependency: "ok" or "error: …"'),
});

// --- The dashboard's overview and bulk actions ---------------------------------------------------

export const statsQuery = z.strictObject({
  all: boolString.optional().describe("every user's jobs (needs job:ReadAll); default: the caller's own"),
});

export const statsResponse = z
  .strictObject({
    all: z.boolean().describe("whether every user's jobs were counted"),
    counts: z
      .strictObject({
        PENDING: z.int().min(0),
        RUNNING: z.int().min(0),
        COMPLETED: z.int().min(0),
        FAILED: z.int().min(0),
        CANCELLED: z.int().min(0),
      } satisfies Record<JobStatus, z.ZodType>)
      .describe('jobs per status (every status present)'),
    minutes: z
      .array(
        z.strictObject({
          start: isoDate.describe('the minute (UTC, seconds zero)'),
          completed: z.int().min(0).describe('jobs that COMPLETED in this minute'),
          failed: z.int().min(0).describe('jobs that FAILED in this minute'),
        }),
      )
      .describe('the last 60 minutes, the current one last; quiet minutes are zeros'),
    lastHour: z.strictObject({
      completed: z.int().min(0),
      failed: z.int().min(0),
      failureRate: z.number().min(0).max(1).nullable().describe('failed / (completed + failed); null: none'),
    }),
  })
  .register(responseSchemas, { id: 'JobStats' });

const bulkFilter = z
  .strictObject({
    status: z.enum(JOB_STATUSES as [JobStatus, ...JobStatus[]]).optional(),
    type: z.string().min(1).max(100).optional(),
    all: z
      .boolean()
      .optional()
      .describe("every user's jobs (needs job:ReadAll; changing them, job:ManageAll)"),
    idPrefix: listJobsQuery.shape.idPrefix,
  })
  .describe('the jobs a list with this filter shows, among those the action applies to');

export const bulkBody = z
  .strictObject({
    action: z.enum(['retry', 'cancel'], { error: 'action must be "retry" or "cancel"' }),
    ids: z
      .array(z.uuid('ids must be job ids (uuids)'))
      .min(1, 'ids must name at least one job')
      .max(100, 'ids takes at most 100 jobs per request')
      .optional(),
    filter: bulkFilter.optional(),
  })
  .refine((b) => (b.ids === undefined) !== (b.filter === undefined), {
    message: 'give either ids or filter, not both or neither',
  });

export const bulkResponse = z
  .strictObject({
    action: z.enum(['retry', 'cancel']),
    succeeded: z.int().min(0),
    failed: z.int().min(0),
    more: z
      .boolean()
      .describe('the filter matched more than 100 jobs: send the same request again for the next ones'),
    results: z.array(
      z.union([
        z.strictObject({ id: z.uuid(), status: z.literal(200), job: jobResponse }),
        z.strictObject({
          id: z.uuid(),
          status: z.int().min(400).describe('what the single route would have answered (404, 409, 429…)'),
          error: errorResponse.shape.error,
        }),
      ]),
    ),
  })
  .register(responseSchemas, { id: 'BulkResult' });

/** PUT /api/webhooks/default: the caller's default webhook URL, or null to clear it. */
export const webhookDefaultBody = z.strictObject({
  url: z
    .string({ error: 'url must be an http(s) URL, or null to clear the default' })
    .max(2048, 'url must be at most 2048 characters')
    .nullable()
    .describe('the URL jobs submitted without their own webhookUrl get (at submit); null: none'),
});

export const webhookDefaultResponse = z
  .strictObject({ url: z.string().nullable() })
  .register(responseSchemas, { id: 'WebhookDefault' });

export const webhookSecretResponse = z
  .strictObject({
    secret: z.string().describe('the key of the HMAC-SHA256 signatures of your deliveries (whsec_…)'),
    previousSecretValidUntil: isoDate
      .nullable()
      .describe('after a rotation, deliveries also carry a signature with the previous secret until then'),
  })
  .register(responseSchemas, { id: 'WebhookSecret' });

export const webhookDeliveryListResponse = z
  .strictObject({
    items: z.array(
      z.strictObject({
        id: z.uuid().describe('sent as the Jobs-Delivery header, the same on every retry: dedupe on it'),
        jobId: z.uuid(),
        event: z.enum(['job.completed', 'job.failed', 'job.cancelled', 'job.dead_lettered']),
        url: z.string(),
        state: z
          .enum(['pending', 'delivered', 'failed'])
          .describe(
            'pending (retrying), delivered (a 2xx came), failed (given up a day after the job ended)',
          ),
        attempts: z.int().min(0),
        nextAttemptAt: isoDate.nullable().describe('when the next attempt is due (pending only)'),
        createdAt: isoDate,
        finishedAt: isoDate.nullable(),
        history: z.array(
          z.strictObject({
            n: z.int().min(1),
            at: isoDate,
            statusCode: z.int().nullable().describe('null: no answer (refused address, DNS, timeout)'),
            error: z.string().nullable(),
            durationMs: z.int().min(0),
          }),
        ),
      }),
    ),
  })
  .register(responseSchemas, { id: 'WebhookDeliveryList' });
