import fs from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import { packageRoot } from '../core/package-root.js';
import {
  beginUploadBody,
  completeUploadBody,
  createJobBody,
  createJobsBatchBody,
  createScheduleBody,
  createTokenBody,
  dlqListQuery,
  dlqRedriveBody,
  pruneBody,
  bulkBody,
  statsQuery,
  healthResponse,
  idempotencyKeyHeader,
  listJobsQuery,
  listSchedulesQuery,
  logsQuery,
  patchScheduleBody,
  readyResponse,
  responseSchemas,
  uploadPartQuery,
  webhookDefaultBody,
} from './schemas.js';

/**
 * The OpenAPI 3.1 document of the API, built from the zod schemas the routes validate requests
 * with (server/schemas.ts) and the response shapes beside them. Every route is listed in `OPS`
 * below; test/server/openapi.test.ts fails when a route of the Express app is missing here (or a
 * path here has no route), and validates the document.
 */

type Json = Record<string, unknown>;

interface Op {
  method: 'get' | 'post' | 'put' | 'patch' | 'delete';
  /** Express syntax (`/api/jobs/:id`); becomes `{id}`. */
  path: string;
  summary: string;
  description?: string;
  tag: string;
  /** No bearer token (health, metrics, the document itself, signed part URLs). */
  public?: boolean;
  query?: z.ZodObject;
  headers?: { name: string; schema: z.ZodType; description: string }[];
  body?: { [mediaType: string]: z.ZodType | Json };
  ok: { status: number; description: string; content: { [mediaType: string]: Json }; headers?: Json };
  errors?: number[];
  /** Other answers than `ok` and errors (a download's 206, 302, 304). */
  also?: Record<number, Json>;
}

const ref = (id: string): Json => ({ $ref: `#/components/schemas/${id}` });
const json = (schema: Json) => ({ 'application/json': { schema } });

const WEBHOOK_URL =
  "`webhookUrl` (http or https; no private, loopback, link-local or metadata address unless the server allows them: JOBS_WEBHOOK_ALLOW_PRIVATE) is where the job's end is POSTed; without it, the owner's default (PUT /api/webhooks/default) at submit.";

const WEBHOOKS =
  'When a job with a `webhookUrl` ends (COMPLETED, FAILED, CANCELLED, or given up on: `job.dead_lettered`), the platform POSTs the job (as GET /api/jobs/{id} answers it) to that URL with the headers `Jobs-Event`, `Jobs-Delivery` (the delivery\'s id, the same on every retry: dedupe on it) and `Jobs-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>" under the owner\'s secret>`. A 2xx answer delivers it; anything else (or no answer within JOBS_WEBHOOK_TIMEOUT_SECONDS) is retried with exponential backoff and jitter for 24 hours after the job ended, then given up on. At least once: a receiver may see a delivery twice.';

const JOB_ID = { name: 'id', schema: z.uuid(), description: 'the job id' };
const UPLOAD_ID = { name: 'id', schema: z.uuid(), description: 'the upload id' };
const SCHEDULE_ID = { name: 'id', schema: z.uuid(), description: 'the schedule id' };
const OUTPUT_NAME = {
  name: 'name',
  schema: z.string().max(128),
  description: 'the output’s name, as the job lists it (`outputs[].name`)',
};

const OUTPUT_HEADERS: Json = {
  ETag: { description: 'the output’s SHA-256 in quotes', schema: { type: 'string' } },
  'Content-Length': { description: 'bytes in this answer', schema: { type: 'integer' } },
  'Content-Disposition': { description: 'attachment; filename="<name>"', schema: { type: 'string' } },
  'Accept-Ranges': { description: 'bytes', schema: { type: 'string' } },
};
const OUTPUT_BYTES = {
  '*/*': {
    schema: {
      type: 'string',
      contentMediaType: 'application/octet-stream',
      description: 'the output’s bytes, with its contentType',
    },
  },
};

const SCHEDULES = `A schedule creates a job of \`type\` with \`params\` at every tick of its cron expression, in its
owner's name (the job carries \`scheduleId\`). Each tick creates exactly one job however many servers and
workers run. A tick refused by the owner's active-jobs quota creates no job: the schedule's \`lastError\`
says why. Ticks missed while nothing ran (more than two minutes late): \`missed: run-once\` (default) creates
one job for the latest of them, \`skip\` none. Ownership is the jobs': \`job:Create\` to create, change
and delete one's own, \`job:Read\` to read them; another user's schedule answers 404 (admins with
\`job:ReadAll\` see it, with \`job:ManageAll\` change it).`;

const STREAM_LIMITS = `The stream's token is re-checked every few seconds: once it
is revoked the stream ends with \`event: error\`, \`data: {"error":{"code":"unauthorized","message":"token revoked"}}\`.
A token holds at most \`JOBS_MAX_STREAMS_PER_TOKEN\` (default 20) streams open at once per server; one more is
answered 429 (\`too_many_streams\`) with \`Retry-After\`.`;

const LOG_STREAM = `With \`Accept: text/event-stream\`: a live Server-Sent Events stream instead of a page. It sends
the lines after \`Last-Event-ID\` (a seq; or \`after\`), then new lines as they are written, each as
\`event: log\`, \`id: <seq>\`, \`data: <LogLine JSON>\`; \`event: job\` with the Job whenever its status or
progress changes; and, once the job has ended and every line was sent, \`event: end\` with the Job,
after which the server closes the stream. A \`: ping\` comment comes every 15 s. Reconnecting with
the last id seen loses and repeats nothing. ${STREAM_LIMITS}`;

const LIST_STREAM = `With \`Accept: text/event-stream\`: a live Server-Sent Events stream of \`event: job\`, \`data: <Job JSON>\`
each time a job this list would show (same \`status\`, \`type\`, \`all\` and permissions) is created or
changes status or progress. A job that leaves a \`status\` filter is sent once more, with its new
status. \`limit\` and \`cursor\` do not apply. A \`: ping\` comment comes every 15 s. ${STREAM_LIMITS}`;

const OPS: Op[] = [
  {
    method: 'get',
    path: '/healthz',
    tag: 'operations',
    public: true,
    summary: 'Liveness: the process answers',
    ok: { status: 200, description: 'alive', content: json(toSchema(healthResponse, 'output')) },
  },
  {
    method: 'get',
    path: '/readyz',
    tag: 'operations',
    public: true,
    summary: 'Readiness: database and blob store usable',
    description:
      'The blob store check fails (`error: no space left on the device …`) once a write failed for want of space, until a write succeeds again.',
    ok: {
      status: 200,
      description: 'ready (503 with the same shape when a check fails)',
      content: json(toSchema(readyResponse, 'output')),
    },
    errors: [503],
  },
  {
    method: 'get',
    path: '/metrics',
    tag: 'operations',
    public: true,
    summary: 'Prometheus metrics (text exposition format)',
    description:
      'Jobs by status and type, queue depth and oldest message age, job durations, HTTP latency by route, and the process metrics of prom-client.',
    ok: {
      status: 200,
      description: 'metrics',
      content: { 'text/plain; version=0.0.4': { schema: { type: 'string' } } },
    },
  },
  {
    method: 'get',
    path: '/openapi.json',
    tag: 'operations',
    public: true,
    summary: 'This document',
    ok: { status: 200, description: 'the OpenAPI document', content: json({ type: 'object' }) },
  },
  {
    method: 'post',
    path: '/api/jobs',
    tag: 'jobs',
    summary: 'Create a job',
    description:
      'As `multipart/form-data` (fields `type`, optional `params` as a JSON string, `maxAttempts`, `delay` or `runAt`, `webhookUrl`, `priority`, then optional `file`, streamed to storage), or as JSON (`{type, params, uploadId, maxAttempts, delay, runAt, webhookUrl, priority}`, where `uploadId` is a completed direct upload). `delay` (`90s`, `10m`, `2h`, `7d`) or `runAt` (ISO 8601 with its zone; at most 365 days ahead) makes a delayed job: PENDING with `runAt` until then, cancellable; a time already past runs it at once. ' +
      WEBHOOK_URL +
      ' `priority` (-100 to 100, higher first; default: the job type’s, else 0) orders the owner’s waiting jobs, oldest first within one priority; free worker slots go round the owners with waiting jobs whatever their priorities, within the concurrency limits per type (JOBS_TYPE_CONCURRENCY) and per owner (JOBS_MAX_RUNNING_JOBS_PER_USER). Needs `job:Create`. The same `Idempotency-Key` (per user, for 24 h) with the same request (type, params after defaults, input file name/size/SHA-256 or `uploadId`, maxAttempts) answers 200 with the first job; with a different request, 422 `idempotency_conflict` naming the fields that differ (`details.fields`) and the first job (`details.jobId`).',
    headers: [
      {
        name: 'Idempotency-Key',
        schema: idempotencyKeyHeader,
        description:
          'a retry with the same key and request returns the same job instead of creating another; another request with the key is a 422',
      },
    ],
    body: {
      'application/json': createJobBody,
      'multipart/form-data': {
        type: 'object',
        properties: {
          type: { type: 'string', description: 'job type (GET /api/job-types)' },
          params: { type: 'string', description: 'the params object as a JSON string' },
          maxAttempts: {
            type: 'string',
            description: "attempts before the job is FAILED (1 to 20; default: the type's)",
          },
          delay: { type: 'string', description: 'start no sooner than this from now: 90s, 10m, 2h, 7d' },
          runAt: { type: 'string', description: 'start no sooner than this time (ISO 8601 with its zone)' },
          webhookUrl: { type: 'string', description: "an http(s) URL the job's end is POSTed to, signed" },
          priority: {
            type: 'string',
            description: "higher first: -100 to 100 (default: the type's, else 0)",
          },
          file: { type: 'string', contentMediaType: 'application/octet-stream', description: 'input file' },
        },
        required: ['type'],
      },
    },
    ok: {
      status: 201,
      description: 'created (200: an earlier job with the same Idempotency-Key)',
      content: json(ref('Job')),
    },
    errors: [200, 400, 401, 403, 404, 408, 409, 413, 415, 422, 507],
  },
  {
    method: 'post',
    path: '/api/jobs/batch',
    tag: 'jobs',
    summary: 'Create up to 1,000 jobs in one request',
    description:
      'JSON `{jobs:[{type, params?, idempotencyKey?, maxAttempts?, delay?, runAt?, webhookUrl?, priority?}, …]}` (1 to 1,000 jobs; body up to 8 MB). Needs `job:Create`. The jobs are created in one transaction, and each gets its own result, in order: `{status:201, job}` created; `{status:200, job}` the earlier job of its `idempotencyKey` (same request, as `Idempotency-Key` on POST /api/jobs, per user for 24 h; two jobs of one batch with one key: the first counts); or `{status, error}` with the error a POST of that job alone would have answered (400 `validation_failed` or `unknown_job_type`, 422 `idempotency_conflict`, 429 `quota_exceeded`). One bad job does not stop the others. Types that need an input file cannot be batched (400 for that job); The owner’s active-jobs cap (JOBS_MAX_ACTIVE_JOBS_PER_USER) admits jobs in order while there is room; the rest get 429 `quota_exceeded` each, and when no job could be created because of it the whole request answers 429 with `Retry-After`. The request counts once against the request rate limit. A request refused whole (400, 401, 403, 413, 415, 429) writes nothing.',
    body: { 'application/json': createJobsBatchBody },
    ok: {
      status: 200,
      description: 'one result per job, in order (created, existing, or its error)',
      content: json(ref('JobBatchResult')),
    },
    errors: [400, 401, 403, 413, 415, 429],
  },
  {
    method: 'get',
    path: '/api/jobs',
    tag: 'jobs',
    summary: "List the caller's jobs (or everyone's with all=true: job:ReadAll), newest first",
    description: LIST_STREAM,
    query: listJobsQuery,
    ok: {
      status: 200,
      description: 'a page of jobs, or the event stream',
      content: {
        ...json(ref('JobPage')),
        'text/event-stream': { schema: { type: 'string', description: LIST_STREAM } },
      },
    },
    errors: [400, 401, 403, 429],
  },
  {
    method: 'get',
    path: '/api/jobs/:id',
    tag: 'jobs',
    summary: 'One job',
    ok: { status: 200, description: 'the job', content: json(ref('Job')) },
    errors: [401, 404],
  },
  {
    method: 'get',
    path: '/api/jobs/:id/logs',
    tag: 'jobs',
    summary: "A job's log lines (a page, or a live stream)",
    description: LOG_STREAM,
    query: logsQuery,
    headers: [
      {
        name: 'Last-Event-ID',
        schema: z.string().regex(/^\d+$/),
        description: 'event streams: resume after this seq (wins over `after`)',
      },
    ],
    ok: {
      status: 200,
      description: 'a page of lines, or the event stream',
      content: {
        ...json(ref('LogPage')),
        'text/event-stream': {
          schema: { type: 'string', description: LOG_STREAM },
          example:
            'event: log\nid: 1\ndata: {"seq":1,"ts":"2026-11-28T18:00:00.000Z","level":"info","message":"attempt 1 of 3 started","data":null}\n\n',
        },
      },
    },
    errors: [400, 401, 404, 429],
  },
  {
    method: 'post',
    path: '/api/jobs/:id/cancel',
    tag: 'jobs',
    summary: 'Cancel a PENDING or RUNNING job',
    ok: { status: 200, description: 'the cancelled job', content: json(ref('Job')) },
    errors: [401, 403, 404, 409],
  },
  {
    method: 'post',
    path: '/api/jobs/:id/retry',
    tag: 'jobs',
    summary: 'Queue a FAILED or CANCELLED job again, with fresh attempts',
    ok: { status: 200, description: 'the job, PENDING again', content: json(ref('Job')) },
    errors: [401, 403, 404, 409],
  },
  {
    method: 'post',
    path: '/api/jobs/bulk',
    tag: 'jobs',
    summary: 'Retry or cancel many jobs: up to 100 by `ids`, or those a list `filter` shows',
    description:
      'Each job is handled on its own, as its single route would (`POST /api/jobs/:id/retry` or `/cancel`: ownership, permissions, state, the active-jobs quota), and gets its own result, in the order of `ids` (a filter: oldest first); one job failing does not stop the others. A `filter` selects, among the jobs the action applies to (retry: FAILED or CANCELLED; cancel: PENDING or RUNNING), those `GET /api/jobs` with the same `status`, `type`, `all` and `idPrefix` shows, oldest first, at most 100: `more: true` says more matched (send the request again). A cancel asks a RUNNING job to stop and does not wait for it. A request wrong as a whole (an unknown action, both or neither of `ids` and `filter`, more than 100 ids, a filter `status` the action does not apply to, `all` without job:ReadAll) answers 400 or 403 and changes nothing.',
    body: { 'application/json': bulkBody },
    ok: { status: 200, description: 'one result per job', content: json(ref('BulkResult')) },
    errors: [400, 401, 403, 415],
  },
  {
    method: 'get',
    path: '/api/stats',
    tag: 'jobs',
    summary: 'Jobs per status, and completions and failures per minute over the last hour',
    description:
      "The caller's own jobs, or every user's with `all=true` (job:ReadAll). `minutes` holds the last 60 whole minutes by `finishedAt` (the current one last, quiet minutes as zeros); `lastHour` sums them, with the failure rate. Every user's `counts` (a count of the whole table) are shared between requests for up to 2 s. What the dashboard's header shows.",
    query: statsQuery,
    ok: { status: 200, description: 'the counts', content: json(ref('JobStats')) },
    errors: [400, 401, 403],
  },
  {
    method: 'get',
    path: '/api/jobs/:id/outputs/:name',
    tag: 'jobs',
    summary: 'Download one of a job’s outputs (the owner’s or an admin’s)',
    description:
      'With the directory store the API streams the file: `ETag` is its SHA-256, `If-None-Match` answers 304, one `Range` (bytes) answers 206 (416 when outside the file; several ranges: the whole file), `If-Range` is honoured. With S3 it answers 302 to a presigned GET valid for 5 minutes, so the bytes go from S3 to the client (S3 serves Range and conditional requests). ' +
      'Also served without a bearer token for a signed link from `POST …/link` (query `expires` and `signature`). Another user’s job, or an output the job does not list (still being written, or discarded by a retry), answers 404.',
    ok: { status: 200, description: 'the whole output', content: OUTPUT_BYTES, headers: OUTPUT_HEADERS },
    also: {
      206: {
        description: 'the requested range',
        content: OUTPUT_BYTES,
        headers: {
          ...OUTPUT_HEADERS,
          'Content-Range': { description: 'bytes START-END/SIZE', schema: { type: 'string' } },
        },
      },
      302: {
        description: 'S3: a presigned GET of the output (valid 5 minutes)',
        headers: { Location: { description: 'the presigned URL', schema: { type: 'string' } } },
      },
      304: { description: 'If-None-Match names its ETag: unchanged' },
      416: {
        description: 'the Range lies outside the output (`Content-Range: bytes */SIZE`)',
        content: json(ref('Error')),
      },
    },
    errors: [401, 403, 404],
  },
  {
    method: 'post',
    path: '/api/jobs/:id/outputs/:name/link',
    tag: 'jobs',
    summary: 'A short-lived download URL for an output (what the dashboard’s download links use)',
    description:
      'For clients that navigate rather than send a bearer token (a browser’s download): a URL valid for 5 minutes without one. S3: a presigned GET. The directory store: this API’s GET of the output with `expires` and `signature` in the query, as a path on the API’s origin.',
    ok: {
      status: 200,
      description: 'the URL and when it expires',
      content: json({
        type: 'object',
        required: ['url', 'expiresAt'],
        properties: {
          url: { type: 'string', description: 'absolute (S3) or a path on this API (directory store)' },
          expiresAt: { type: 'string', format: 'date-time' },
        },
      }),
    },
    errors: [401, 403, 404],
  },
  {
    method: 'get',
    path: '/api/dlq',
    tag: 'dead letters',
    summary:
      'Admins (dlq:Manage): the dead-lettered jobs (given up on after their attempts ran out), newest first',
    query: dlqListQuery,
    ok: { status: 200, description: 'the dead letters', content: json(ref('DeadLetterList')) },
    errors: [400, 401, 403],
  },
  {
    method: 'post',
    path: '/api/dlq/redrive',
    tag: 'dead letters',
    summary:
      'Admins (dlq:Manage): send dead-lettered jobs back to the queue with fresh attempts (all, or `ids`)',
    body: { 'application/json': dlqRedriveBody },
    ok: { status: 200, description: 'what was requeued and moved', content: json(ref('RedriveResult')) },
    errors: [400, 401, 403],
  },
  {
    method: 'post',
    path: '/api/prune',
    tag: 'retention',
    summary:
      "Admins (job:ManageAll): delete every user's finished jobs older than `olderThan` (default JOBS_RETENTION_DAYS), with their logs, input and output files",
    description:
      'What `jobs prune` calls, and what every `jobs server` and `jobs worker` runs hourly with JOBS_RETENTION_DAYS (default 30; 0 keeps jobs forever). Deletes in batches of 200, so the API keeps answering. `dryRun` only counts.',
    body: { 'application/json': pruneBody },
    ok: { status: 200, description: 'what was (or would be) deleted', content: json(ref('PruneResult')) },
    errors: [400, 401, 403],
  },
  {
    method: 'post',
    path: '/api/uploads',
    tag: 'uploads',
    summary: 'Begin a direct upload of a large input',
    description:
      'Answers presigned part URLs under a key the server chooses. PUT each part to its URL (no Authorization header) with exactly its bytes (`partSize`, the last part the rest: S3 part URLs sign the Content-Length), one at a time and in order when `sequential` is true (the directory store then hashes the parts as they arrive), else in parallel; keep each answer’s ETag, then complete the upload before `expiresAt` and create the job with JSON `{type, params, uploadId}`. Uploads not completed, or completed but not used by a job, by `expiresAt` are removed. A user may have JOBS_MAX_OPEN_UPLOADS (default 20) uploads begun and not completed at once: beyond that, 429 with `Retry-After` (seconds until the oldest of them expires).',
    body: { 'application/json': beginUploadBody },
    ok: { status: 201, description: 'the part URLs', content: json(ref('BegunUpload')) },
    errors: [400, 401, 413, 429, 507],
  },
  {
    method: 'post',
    path: '/api/uploads/:id/complete',
    tag: 'uploads',
    summary: 'Complete a direct upload (assemble and verify size and SHA-256)',
    description:
      'Answers 409 once the upload has expired (begin a new one). `sha256` may be left out everywhere when the upload answered `sequential: true` (the directory store hashes the bytes it writes and records its own SHA-256; one given is checked against it); otherwise (S3) it is required here when it was not given when the upload began. 400 when it differs from the bytes (the upload is then discarded) or from the one given at the start.',
    body: { 'application/json': completeUploadBody },
    ok: { status: 200, description: 'completed', content: json(ref('CompletedUpload')) },
    errors: [400, 401, 404, 409, 507],
  },
  {
    method: 'put',
    path: '/api/uploads/:id/parts/:n',
    tag: 'uploads',
    public: true,
    summary: 'Upload one part (the directory store’s presigned part URL)',
    description:
      'Served only by the embedded directory store (S3 part URLs point at S3). The signature in the query is the credential.',
    query: uploadPartQuery,
    body: { 'application/octet-stream': { type: 'string', contentMediaType: 'application/octet-stream' } },
    ok: {
      status: 200,
      description: 'stored',
      content: {},
      headers: {
        ETag: { description: "the part's ETag, for the completion call", schema: { type: 'string' } },
      },
    },
    errors: [400, 403, 404, 408, 409, 413, 507],
  },
  {
    method: 'get',
    path: '/api/job-types',
    tag: 'jobs',
    summary: 'The registered job types and their parameters (JSON Schema)',
    ok: { status: 200, description: 'job types', content: json({ type: 'array', items: ref('JobType') }) },
    errors: [401],
  },
  {
    method: 'post',
    path: '/api/schedules',
    tag: 'schedules',
    summary: 'Create a cron schedule (job:Create)',
    description: `${SCHEDULES} The cron expression, time zone, job type and params are checked as a job submission's are: a bad one answers 400 and creates nothing. Job types that need an input file cannot be scheduled.`,
    body: { 'application/json': createScheduleBody },
    ok: { status: 201, description: 'the schedule', content: json(ref('Schedule')) },
    errors: [400, 401, 403],
  },
  {
    method: 'get',
    path: '/api/schedules',
    tag: 'schedules',
    summary: "List the caller's schedules (or everyone's with all=true: job:ReadAll), newest first",
    query: listSchedulesQuery,
    ok: { status: 200, description: 'the schedules', content: json(ref('ScheduleList')) },
    errors: [400, 401, 403],
  },
  {
    method: 'get',
    path: '/api/schedules/:id',
    tag: 'schedules',
    summary: 'One schedule',
    ok: { status: 200, description: 'the schedule', content: json(ref('Schedule')) },
    errors: [401, 404],
  },
  {
    method: 'patch',
    path: '/api/schedules/:id',
    tag: 'schedules',
    summary: 'Change, pause (`{"paused":true}`) or resume (`{"paused":false}`) a schedule',
    description:
      'The fields given replace the schedule’s (`params` as a whole; a new `type` is checked with the params it will run with). A new cron expression or time zone, and resuming, take effect from now: the next run is the first tick after now (ticks while paused are not made up).',
    body: { 'application/json': patchScheduleBody },
    ok: { status: 200, description: 'the schedule as changed', content: json(ref('Schedule')) },
    errors: [400, 401, 403, 404],
  },
  {
    method: 'delete',
    path: '/api/schedules/:id',
    tag: 'schedules',
    summary: 'Delete a schedule (the jobs it created stay)',
    ok: { status: 200, description: 'the deleted schedule', content: json(ref('Schedule')) },
    errors: [401, 403, 404],
  },
  {
    method: 'get',
    path: '/api/jobs/:id/webhook-deliveries',
    tag: 'webhooks',
    summary: "A job's webhook deliveries, each with its attempts (the job's owner, or job:ReadAll)",
    description: WEBHOOKS,
    ok: {
      status: 200,
      description: 'the deliveries, oldest first',
      content: json(ref('WebhookDeliveryList')),
    },
    errors: [401, 403, 404],
  },
  {
    method: 'get',
    path: '/api/webhooks/default',
    tag: 'webhooks',
    summary: "The caller's default webhook URL (job:Read)",
    ok: { status: 200, description: 'the default (null: none)', content: json(ref('WebhookDefault')) },
    errors: [401, 403],
  },
  {
    method: 'put',
    path: '/api/webhooks/default',
    tag: 'webhooks',
    summary: "Set the caller's default webhook URL, or clear it with null (job:Create)",
    description: `A job submitted without its own \`webhookUrl\` gets the default its owner has at submit (changing the default later does not change submitted jobs). The URL is checked as a job's is. ${WEBHOOKS}`,
    body: { 'application/json': webhookDefaultBody },
    ok: { status: 200, description: 'the default as set', content: json(ref('WebhookDefault')) },
    errors: [400, 401, 403, 415],
  },
  {
    method: 'get',
    path: '/api/webhooks/secret',
    tag: 'webhooks',
    summary: "The caller's webhook signing secret, made on first use (job:Create)",
    description: WEBHOOKS,
    ok: { status: 200, description: 'the secret', content: json(ref('WebhookSecret')) },
    errors: [401, 403],
  },
  {
    method: 'post',
    path: '/api/webhooks/secret/rotate',
    tag: 'webhooks',
    summary: 'Replace the signing secret (job:Create); the old one also signs for 24 hours',
    description:
      'Deliveries from now on carry two `v1` signatures (the new secret first) until `previousSecretValidUntil`, so a receiver can switch to the new secret without missing a delivery.',
    ok: { status: 200, description: 'the new secret', content: json(ref('WebhookSecret')) },
    errors: [401, 403],
  },
  {
    method: 'get',
    path: '/api/me',
    tag: 'tokens',
    summary: 'Who the token belongs to',
    ok: { status: 200, description: 'the caller', content: json(ref('Me')) },
    errors: [401],
  },
  {
    method: 'post',
    path: '/api/tokens',
    tag: 'tokens',
    summary: 'Create an API token (token:Manage)',
    description:
      'The user is created if new. `admin: true` makes the user an admin and, unless `permissions` narrows it, gives the token every permission. Admin permissions (job:ReadAll, job:ManageAll, token:Manage, dlq:Manage) for a user who is not an admin answer 400; permissions the calling token lacks answer 403. `expiresIn` (`90d`) or `expiresAt` sets an expiry; without them the token never expires.',
    body: { 'application/json': createTokenBody },
    ok: {
      status: 201,
      description: 'the token, with its secret (shown once)',
      content: json(ref('CreatedToken')),
    },
    errors: [400, 401, 403],
  },
  {
    method: 'get',
    path: '/api/tokens',
    tag: 'tokens',
    summary: 'List API tokens (token:Manage)',
    ok: {
      status: 200,
      description: 'tokens (never their secrets)',
      content: json({
        type: 'object',
        properties: { items: { type: 'array', items: ref('Token') } },
        required: ['items'],
      }),
    },
    errors: [401, 403],
  },
  {
    method: 'delete',
    path: '/api/tokens/:id',
    tag: 'tokens',
    summary: 'Revoke an API token (token:Manage)',
    ok: { status: 200, description: 'the revoked token', content: json(ref('Token')) },
    errors: [401, 403, 404],
  },
];

const ERROR_TEXT: Record<number, string> = {
  400: 'invalid request (the message names the field)',
  401: 'missing, invalid, revoked or expired token',
  403: 'the token lacks the permission (the message names it)',
  404: 'not found (another user’s job or schedule answers 404 too)',
  409: 'the job or upload is in the wrong state',
  408: 'the request body sent nothing for JOBS_BODY_IDLE_TIMEOUT_SECONDS: the connection is closed and nothing was kept',
  413: 'too large',
  415: 'unsupported content type or Content-Encoding',
  422: 'the Idempotency-Key was used for a different request (`idempotency_conflict`)',
  429: 'a limit was reached: the token’s request rate (`rate_limited`, JOBS_RATE_LIMIT_PER_MINUTE), its open event streams (`too_many_streams`) or its user’s open direct uploads (`too_many_requests`); retry after `Retry-After` seconds',
  503: 'not ready',
  507: 'the server is out of storage space (insufficient_storage); nothing was kept',
};

/** Routes that create work also answer 429 when the caller's active-jobs cap is reached. */
const QUOTA_429 =
  'too many requests: the token’s request rate limit (`rate_limited`, JOBS_RATE_LIMIT_PER_MINUTE) is used up for this minute, or the user already has JOBS_MAX_ACTIVE_JOBS_PER_USER jobs pending or running (`quota_exceeded`); retry after Retry-After seconds';

const RETRY_AFTER = {
  'Retry-After': {
    description: 'seconds to wait before trying again',
    schema: { type: 'integer', minimum: 1 },
  },
};

let cached: Json | undefined;

/** The document (built once). */
export function openApiDocument(): Json {
  return (cached ??= build());
}

/** `METHOD /openapi/path` of every documented operation (for the route test). */
export function documentedRoutes(): string[] {
  return OPS.map((o) => `${o.method.toUpperCase()} ${o.path}`);
}

function build(): Json {
  const { version } = JSON.parse(fs.readFileSync(path.join(packageRoot(), 'package.json'), 'utf8')) as {
    version: string;
  };
  const components = z.toJSONSchema(responseSchemas, {
    uri: (id) => `#/components/schemas/${id}`,
    target: 'draft-2020-12',
    io: 'output',
    unrepresentable: 'any',
  }).schemas as Record<string, Json>;
  for (const s of Object.values(components)) {
    delete s.$schema;
    delete s.$id;
  }
  const paths: Record<string, Record<string, Json>> = {};
  for (const op of OPS) {
    const p = op.path.replace(/:(\w+)/g, '{$1}');
    (paths[p] ??= {})[op.method] = operation(op);
  }
  return {
    openapi: '3.1.0',
    info: {
      title: 'jobs',
      version,
      description:
        'Async job platform: submit files, run handlers, follow progress and logs. Errors are `{"error":{"code","message","details"}}`; a user sees only their own jobs, an admin every job. Limits answer 429 with `Retry-After`: a request rate per token (`rate_limited`) and a cap on a user’s pending and running jobs (`quota_exceeded`).',
    },
    tags: [
      { name: 'jobs', description: 'Jobs, their logs and live streams' },
      { name: 'uploads', description: 'Direct (presigned multipart) uploads of large inputs' },
      { name: 'schedules', description: 'Cron schedules that create jobs' },
      { name: 'webhooks', description: "Completion webhooks: a job's end POSTed, signed, to a URL" },
      { name: 'tokens', description: 'Identity and API tokens' },
      { name: 'dead letters', description: 'Jobs given up on, and sending them back (admins: dlq:Manage)' },
      {
        name: 'retention',
        description: 'Deleting finished jobs past their retention (admins: job:ManageAll)',
      },
      { name: 'operations', description: 'Health, readiness, metrics, this document' },
    ],
    security: [{ bearer: [] }],
    paths,
    components: {
      securitySchemes: {
        bearer: { type: 'http', scheme: 'bearer', description: 'an API token (`jobs tokens create`)' },
      },
      schemas: components,
    },
  };
}

function operation(op: Op): Json {
  const params: Json[] = [];
  for (const name of op.path.match(/:(\w+)/g) ?? []) {
    const key = name.slice(1);
    const param =
      key === 'n'
        ? { name: 'n', schema: z.int().min(1).max(10_000), description: 'part number' }
        : key === 'name'
          ? OUTPUT_NAME
          : undefined;
    const p =
      param ??
      (op.path.startsWith('/api/uploads')
        ? UPLOAD_ID
        : op.path.startsWith('/api/schedules')
          ? SCHEDULE_ID
          : JOB_ID);
    params.push({
      name: key,
      in: 'path',
      required: true,
      description: p.description,
      schema: toSchema(p.schema, 'input'),
    });
  }
  if (op.query) {
    const schema = toSchema(op.query, 'input') as { properties?: Record<string, Json>; required?: string[] };
    for (const [name, prop] of Object.entries(schema.properties ?? {})) {
      const { description, ...rest } = prop as Json & { description?: string };
      params.push({
        name,
        in: 'query',
        required: schema.required?.includes(name) ?? false,
        ...(description ? { description } : {}),
        schema: rest,
      });
    }
  }
  for (const h of op.headers ?? []) {
    params.push({
      name: h.name,
      in: 'header',
      required: false,
      description: h.description,
      schema: toSchema(h.schema, 'input'),
    });
  }
  const responses: Record<string, Json> = {
    [op.ok.status]: {
      description: op.ok.description,
      ...(Object.keys(op.ok.content).length ? { content: op.ok.content } : {}),
      ...(op.ok.headers ? { headers: op.ok.headers } : {}),
    },
  };
  Object.assign(responses, op.also);
  for (const status of op.errors ?? []) {
    if (responses[status]) continue;
    responses[status] =
      status === 200
        ? { description: 'an earlier job with the same Idempotency-Key', content: json(ref('Job')) }
        : status === 503
          ? { description: ERROR_TEXT[503], content: json(toSchema(readyResponse, 'output')) }
          : {
              description: ERROR_TEXT[status] ?? 'error',
              content: json(ref('Error')),
              ...(status === 429
                ? {
                    headers: {
                      'Retry-After': {
                        description: 'seconds to wait before trying again',
                        schema: { type: 'integer' },
                      },
                    },
                  }
                : {}),
            };
  }
  if (!op.public && !responses[401])
    responses[401] = { description: ERROR_TEXT[401], content: json(ref('Error')) };
  // Every /api route is rate limited (server/rate-limit.ts): by token, or by IP address without one.
  if (op.path.startsWith('/api/')) {
    const createsWork =
      op.method === 'post' && ['/api/jobs', '/api/jobs/batch', '/api/jobs/:id/retry'].includes(op.path);
    responses[429] = {
      description: createsWork ? QUOTA_429 : ERROR_TEXT[429],
      headers: RETRY_AFTER,
      content: json(ref('Error')),
    };
  }
  return {
    operationId: operationId(op),
    summary: op.summary,
    ...(op.description ? { description: op.description } : {}),
    tags: [op.tag],
    ...(op.public ? { security: [] } : {}),
    ...(params.length ? { parameters: params } : {}),
    ...(op.body
      ? {
          requestBody: {
            required: true,
            content: Object.fromEntries(
              Object.entries(op.body).map(([type, schema]) => [
                type,
                { schema: schema instanceof z.ZodType ? toSchema(schema, 'input') : schema },
              ]),
            ),
          },
        }
      : {}),
    responses,
  };
}

/** `get /api/jobs/:id/logs` → `getApiJobsIdLogs`. */
function operationId(op: Op): string {
  const words = op.path.split(/[^A-Za-z0-9]+/).filter(Boolean);
  return op.method + words.map((w) => w[0].toUpperCase() + w.slice(1)).join('');
}

function toSchema(schema: z.ZodType, io: 'input' | 'output'): Json {
  const out = z.toJSONSchema(schema, { target: 'draft-2020-12', io, unrepresentable: 'any' }) as Json;
  delete out.$schema;
  return out;
}
