import { randomUUID } from 'node:crypto';
import { z } from 'zod';
import type { Logger } from 'pino';
import type { LiveEvents } from '../../core/jobs/live-events.js';
import type { BatchOutcome, JobsService, NewBatchJob } from '../../core/jobs/jobs-service.js';
import type { BlobStore } from '../../core/blobs/blob-store.js';
import { ValidationError } from '../../core/errors.js';
import { receiveJobUpload } from '../job-upload.js';
import {
  batchJobItem,
  createJobBody,
  createJobsBatchBody,
  idempotencyKeyHeader,
  jobPageResponse,
  jobResponse,
  jobsBatchEnvelope,
  jobsBatchResponse,
  listJobsQuery,
  logPageResponse,
  logsQuery,
  maxAttemptsField,
  priorityField,
} from '../schemas.js';
import { parseOr400, parseOrError } from '../validate.js';
import { errorBody } from '../errors.js';
import { streamJobList, streamJobLogs, wantsEventStream } from '../live.js';
import { JobListFeed } from '../job-list-feed.js';
import type { StreamGuard } from '../stream-guard.js';
import type { Principal } from '../../core/auth/principal.js';
import { runAtFrom } from '../../core/jobs/run-at.js';
import { checkWebhookUrl } from '../../core/webhooks/webhook-url.js';
import { defineRoute, type Route } from '../route.js';
import { QUOTA_429 } from '../openapi.js';
import { JOB_ID } from './params.js';

/** The list feed reads changed jobs as an admin's `all=true` list would; each stream then filters. */
const FEED_READER: Principal = {
  userId: '',
  name: 'live list feed',
  role: 'admin',
  permissions: ['job:Read'],
  tokenId: '',
};

/** How long `POST /api/jobs/:id/cancel` waits for a running job's processor to end it. */
const CANCEL_WAIT_MS = 5_000;

/** A single job's JSON body, and a batch's (up to 1,000 jobs of a few KB each). */
const JOB_BODY_LIMIT = '1mb';
export const BATCH_BODY_LIMIT = '8mb';

const WEBHOOK_URL =
  "`webhookUrl` (http or https; no private, loopback, link-local or metadata address unless the server allows them: JOBS_WEBHOOK_ALLOW_PRIVATE) is where the job's end is POSTed; without it, the owner's default (PUT /api/webhooks/default) at submit.";

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

/** The multipart form of POST /api/jobs (busboy reads it: server/job-upload.ts). */
const MULTIPART_JOB = {
  type: 'object',
  properties: {
    type: { type: 'string', description: 'job type (GET /api/job-types)' },
    params: { type: 'string', description: 'the params object as a JSON string' },
    maxAttempts: {
      type: 'string',
      pattern: '^\\d{1,3}$',
      description: "attempts before the job is FAILED (1 to 20; default: the type's)",
    },
    delay: { type: 'string', description: 'start no sooner than this from now: 90s, 10m, 2h, 7d' },
    runAt: { type: 'string', description: 'start no sooner than this time (ISO 8601 with its zone)' },
    webhookUrl: { type: 'string', description: "an http(s) URL the job's end is POSTed to, signed" },
    priority: {
      type: 'string',
      pattern: '^-?\\d{1,3}$',
      description: "higher first: -100 to 100 (default: the type's, else 0)",
    },
    file: { type: 'string', contentMediaType: 'application/octet-stream', description: 'input file' },
  },
  required: ['type'],
};

export interface JobsRoutesDeps {
  jobs: JobsService;
  blobs: BlobStore;
  maxUploadBytes: number;
  live: LiveEvents;
  /** Event streams per token, and their tokens re-checked while open. */
  guard: StreamGuard;
  logger: Logger;
  pingMs?: number;
  /** JOBS_WEBHOOK_ALLOW_PRIVATE, for checking a multipart's webhookUrl before its file is stored. */
  webhooks: { allowPrivate: boolean };
}

/** Jobs: submit (one or a batch), list, read, logs, cancel, retry. */
export function jobsRoutes(deps: JobsRoutesDeps): Route[] {
  const { jobs } = deps;
  const listFeed = new JobListFeed({
    live: deps.live,
    read: (ids) => jobs.listed(FEED_READER, ids, { all: true }),
    logger: deps.logger,
  });

  const submitJob = defineRoute({
    method: 'post',
    path: '/api/jobs',
    operationId: 'submitJob',
    tag: 'jobs',
    auth: 'bearer',
    permission: { name: 'job:Create' },
    summary: 'Create a job',
    description:
      'As `multipart/form-data` (fields `type`, optional `params` as a JSON string, `maxAttempts`, `delay` or `runAt`, `webhookUrl`, `priority`, then optional `file`, streamed to storage), or as JSON (`{type, params, uploadId, maxAttempts, delay, runAt, webhookUrl, priority}`, where `uploadId` is a completed direct upload). `delay` (`90s`, `10m`, `2h`, `7d`) or `runAt` (ISO 8601 with its zone; at most 365 days ahead) makes a delayed job: PENDING with `runAt` until then, cancellable; a time already past runs it at once. ' +
      WEBHOOK_URL +
      ' `priority` (-100 to 100, higher first; default: the job type’s, else 0) orders the owner’s waiting jobs, oldest first within one priority; free worker slots go round the owners with waiting jobs whatever their priorities, within the concurrency limits per type (JOBS_TYPE_CONCURRENCY) and per owner (JOBS_MAX_RUNNING_JOBS_PER_USER). Needs `job:Create`. The same `Idempotency-Key` (per user, for 24 h) with the same request (type, params after defaults, input file name/size/SHA-256 or `uploadId`, maxAttempts, webhookUrl) answers 200 with the first job; with a different request, 422 `idempotency_conflict` naming the fields that differ (`details.fields`) and the first job (`details.jobId`).',
    headers: [
      {
        name: 'Idempotency-Key',
        schema: idempotencyKeyHeader,
        description:
          'a retry with the same key and request returns the same job instead of creating another; another request with the key is a 422',
      },
    ],
    json: {
      schema: createJobBody,
      limit: JOB_BODY_LIMIT,
      requireJson: 'send multipart/form-data (with a file) or application/json',
    },
    raw: { 'multipart/form-data': { schema: MULTIPART_JOB } },
    responses: {
      201: { description: 'created', schema: jobResponse },
      200: {
        description: 'an earlier job with the same Idempotency-Key (the same request)',
        schema: jobResponse,
      },
      429: { description: QUOTA_429 },
    },
    errors: [400, 403, 404, 408, 409, 413, 415, 422, 507],
    async handler({ req, res, body, principal: owner }) {
      const rawKey = req.header('idempotency-key');
      const idempotencyKey =
        rawKey === undefined ? undefined : parseOr400(idempotencyKeyHeader, rawKey, 'Idempotency-Key');
      // A reused Idempotency-Key is settled by `jobs.create`, once the body is read: the same
      // request answers 200 with the first job (a second upload is deleted), another one 422.
      const id = randomUUID();
      if (body === undefined) {
        // multipart/form-data: the file streams to the store as it arrives.
        const upload = await receiveJobUpload(req, res, {
          blobs: deps.blobs,
          maxBytes: deps.maxUploadBytes,
          ownerId: owner.userId,
          jobId: id,
          validate: (type, params, hasInput) => void jobs.validate(type, params, hasInput),
          // Before a byte of the file is stored, when the field comes first (as the CLI sends it).
          checkFields: (fields) => {
            if (fields.maxAttempts !== undefined)
              parseOr400(maxAttemptsField, fields.maxAttempts, 'maxAttempts');
            if (fields.priority !== undefined) parseOr400(priorityField, fields.priority, 'priority');
            runAtFrom({ delay: fields.delay, runAt: fields.runAt });
            if (fields.webhookUrl !== undefined) checkWebhookUrl(fields.webhookUrl, deps.webhooks);
          },
        });
        try {
          const maxAttempts =
            upload.maxAttempts === undefined
              ? undefined
              : parseOr400(maxAttemptsField, upload.maxAttempts, 'maxAttempts');
          const priority =
            upload.priority === undefined
              ? undefined
              : parseOr400(priorityField, upload.priority, 'priority');
          const { job, created } = await jobs.create(owner, {
            id,
            type: upload.type,
            params: upload.params,
            input: upload.input,
            idempotencyKey,
            maxAttempts,
            delay: upload.delay,
            runAt: upload.runAt,
            webhookUrl: upload.webhookUrl,
            priority,
          });
          if (!created) await deps.blobs.delete(upload.input?.key ?? '').catch(() => {});
          res.status(created ? 201 : 200).json(job);
        } catch (err) {
          if (upload.input) await deps.blobs.delete(upload.input.key).catch(() => {});
          throw err;
        }
        return;
      }
      const { job, created } = await jobs.create(owner, {
        id,
        type: body.type,
        params: body.params ?? {},
        uploadId: body.uploadId,
        idempotencyKey,
        maxAttempts: body.maxAttempts,
        delay: body.delay,
        runAt: body.runAt,
        webhookUrl: body.webhookUrl,
        priority: body.priority,
      });
      res.status(created ? 201 : 200).json(job);
    },
  });

  // Up to 1,000 jobs in one request and one transaction; each job gets its own result, in order
  // (see JobsService.createMany). A job whose shape is wrong is that job's error; only a request
  // that is wrong as a whole (not JSON, no `jobs`, too many, no permission) is refused whole, and
  // then nothing is written.
  const submitJobBatch = defineRoute({
    method: 'post',
    path: '/api/jobs/batch',
    operationId: 'submitJobBatch',
    tag: 'jobs',
    auth: 'bearer',
    permission: { name: 'job:Create' },
    summary: 'Create up to 1,000 jobs in one request',
    description:
      'JSON `{jobs:[{type, params?, idempotencyKey?, maxAttempts?, delay?, runAt?, webhookUrl?, priority?}, …]}` (1 to 1,000 jobs; body up to 8 MB). Needs `job:Create`. The jobs are created in one transaction, and each gets its own result, in order: `{status:201, job}` created; `{status:200, job}` the earlier job of its `idempotencyKey` (same request, as `Idempotency-Key` on POST /api/jobs, per user for 24 h; two jobs of one batch with one key: the first counts); or `{status, error}` with the error a POST of that job alone would have answered (400 `validation_failed` or `unknown_job_type`, 422 `idempotency_conflict`, 429 `quota_exceeded`). One bad job does not stop the others. Types that need an input file cannot be batched (400 for that job); The owner’s active-jobs cap (JOBS_MAX_ACTIVE_JOBS_PER_USER) admits jobs in order while there is room; the rest get 429 `quota_exceeded` each, and when no job could be created because of it the whole request answers 429 with `Retry-After`. The request counts once against the request rate limit. A request refused whole (400, 401, 403, 413, 415, 429) writes nothing. The `Idempotency-Key` header is refused (400): each job takes its own `idempotencyKey`.',
    headers: [
      {
        name: 'Idempotency-Key',
        schema: z.never({
          error: 'a batch takes no Idempotency-Key header; give each job its own idempotencyKey',
        }),
        description: 'refused: each job of a batch takes its own idempotencyKey',
        hidden: true,
      },
    ],
    json: {
      schema: jobsBatchEnvelope,
      documented: createJobsBatchBody,
      limit: BATCH_BODY_LIMIT,
      requireJson: 'send application/json: {"jobs":[{"type":…,"params":{…}}, …]}',
    },
    responses: {
      200: {
        description: 'one result per job, in order (created, existing, or its error)',
        schema: jobsBatchResponse,
      },
      429: { description: QUOTA_429 },
    },
    errors: [400, 403, 413, 415],
    async handler({ body, principal: owner }) {
      const checked = body.jobs.map((item) => parseOrError(batchJobItem, item, 'job'));
      const valid: NewBatchJob[] = [];
      for (const c of checked) if (!(c instanceof ValidationError)) valid.push(c.data);
      const outcomes = await jobs.createMany(owner, valid);
      let next = 0;
      const results = checked.map((c) => (c instanceof ValidationError ? { error: c } : outcomes[next++]));
      return {
        created: results.filter((r) => 'job' in r && r.created).length,
        existing: results.filter((r) => 'job' in r && !r.created).length,
        failed: results.filter((r) => 'error' in r).length,
        results: results.map(batchResult),
      };
    },
  });

  const listJobs = defineRoute({
    method: 'get',
    path: '/api/jobs',
    operationId: 'listJobs',
    tag: 'jobs',
    auth: 'bearer',
    summary: "List the caller's jobs (or everyone's with all=true: job:ReadAll), newest first",
    description: LIST_STREAM,
    query: listJobsQuery,
    responses: {
      200: {
        description: 'a page of jobs, or the event stream',
        schema: jobPageResponse,
        content: { 'text/event-stream': { schema: { type: 'string', description: LIST_STREAM } } },
      },
    },
    errors: [400, 403],
    async handler({ req, res, query: q, principal }) {
      if (wantsEventStream(req)) {
        return void (await streamJobList(req, res, {
          ...deps,
          listFeed,
          viewer: principal,
          query: { status: q.status, type: q.type, all: q.all },
        }));
      }
      return jobs.list(principal, q);
    },
  });

  const getJob = defineRoute({
    method: 'get',
    path: '/api/jobs/:id',
    operationId: 'getJob',
    tag: 'jobs',
    auth: 'bearer',
    summary: 'One job',
    params: { id: JOB_ID },
    responses: { 200: { description: 'the job', schema: jobResponse } },
    errors: [404],
    handler: ({ req, principal }) => jobs.get(principal, req.params.id),
  });

  const getJobLogs = defineRoute({
    method: 'get',
    path: '/api/jobs/:id/logs',
    operationId: 'getJobLogs',
    tag: 'jobs',
    auth: 'bearer',
    summary: "A job's log lines (a page, or a live stream)",
    description: LOG_STREAM,
    params: { id: JOB_ID },
    query: logsQuery,
    headers: [
      {
        name: 'Last-Event-ID',
        schema: z.string().regex(/^\d+$/),
        description: 'event streams: resume after this seq (wins over `after`)',
      },
    ],
    responses: {
      200: {
        description: 'a page of lines, or the event stream',
        schema: logPageResponse,
        content: {
          'text/event-stream': {
            schema: { type: 'string', description: LOG_STREAM },
            example:
              'event: log\nid: 1\ndata: {"seq":1,"ts":"2026-11-28T18:00:00.000Z","level":"info","message":"attempt 1 of 3 started","data":null}\n\n',
          },
        },
      },
    },
    errors: [400, 404],
    async handler({ req, res, query: q, principal }) {
      if (wantsEventStream(req)) {
        return void (await streamJobLogs(req, res, {
          ...deps,
          viewer: principal,
          id: req.params.id,
          after: q.after,
        }));
      }
      return jobs.logs(principal, req.params.id, q);
    },
  });

  // Cancelling a RUNNING job is a request its processor acts on within a heartbeat (about a
  // second). The answer waits that long for the real end, so `jobs cancel` can print CANCELLED;
  // a handler that ignores its signal leaves the job RUNNING with `cancelRequestedAt` set.
  const cancelJob = defineRoute({
    method: 'post',
    path: '/api/jobs/:id/cancel',
    operationId: 'cancelJob',
    tag: 'jobs',
    auth: 'bearer',
    summary: 'Cancel a PENDING or RUNNING job',
    description:
      'A RUNNING job is asked to stop; the answer waits up to 5 s for its processor to end it (CANCELLED), else answers the job still RUNNING with `cancelRequestedAt` set.',
    params: { id: JOB_ID },
    responses: { 200: { description: 'the cancelled job', schema: jobResponse } },
    errors: [403, 404, 409],
    async handler({ req, principal: viewer }) {
      const id = req.params.id;
      const requested = await deps.live.actThenAwaitEnd(
        id,
        () => jobs.cancel(viewer, id),
        (job) => job.status === 'RUNNING',
        CANCEL_WAIT_MS,
      );
      return requested.status === 'RUNNING' ? await jobs.get(viewer, id) : requested;
    },
  });

  const retryJob = defineRoute({
    method: 'post',
    path: '/api/jobs/:id/retry',
    operationId: 'retryJob',
    tag: 'jobs',
    auth: 'bearer',
    summary: 'Queue a FAILED or CANCELLED job again, with fresh attempts',
    params: { id: JOB_ID },
    responses: {
      200: { description: 'the job, PENDING again', schema: jobResponse },
      429: { description: QUOTA_429 },
    },
    errors: [403, 404, 409],
    handler: ({ req, principal }) => jobs.retry(principal, req.params.id),
  });

  return [submitJob, submitJobBatch, listJobs, getJob, getJobLogs, cancelJob, retryJob];
}

/** One job's result in a batch answer: the status its own POST would have had, and its job or error. */
function batchResult(r: BatchOutcome) {
  return 'job' in r
    ? { status: r.created ? 201 : 200, job: r.job }
    : { status: r.error.status, ...errorBody(r.error) };
}
