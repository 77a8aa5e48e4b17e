import { randomUUID } from 'node:crypto';
import express, { Router } from 'express';
import type { Logger } from 'pino';
import type { LiveEvents } from '../../core/jobs/live-events.js';
import type { BatchOutcome, JobsService, NewBatchJob } from '../../core/jobs/jobs-service.js';
import type { BlobStore } from '../../core/blobs/blob-store.js';
import { requirePermission } from '../../core/auth/can.js';
import { UnsupportedMediaTypeError, ValidationError } from '../../core/errors.js';
import type { JobStatus } from '../../core/jobs/job-dto.js';
import { principalOf } from '../auth.js';
import { receiveJobUpload } from '../job-upload.js';
import {
  batchJobItem,
  createJobBody,
  idempotencyKeyHeader,
  jobsBatchEnvelope,
  listJobsQuery,
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

/** JSON body parsers (strict: an object or array), made once: each costs a few parses to build. */
const jobJson = express.json({ limit: JOB_BODY_LIMIT, strict: true });
const batchJson = express.json({ limit: BATCH_BODY_LIMIT, strict: true });

/** Parses a JSON body into `req.body` with `parser`. */
function readJson(
  req: express.Request,
  res: express.Response,
  parser: express.RequestHandler,
): Promise<void> {
  return new Promise<void>((resolve, reject) =>
    parser(req, res, (err?: unknown) => (err ? reject(err) : resolve())),
  );
}

export function jobsRouter(deps: {
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
}): Router {
  const { jobs } = deps;
  const r = Router();
  const listFeed = new JobListFeed({
    live: deps.live,
    read: (ids) => jobs.listed(FEED_READER, ids, { all: true }),
    logger: deps.logger,
  });

  r.post('/', async (req, res) => {
    const owner = principalOf(res);
    requirePermission(owner, 'job:Create');
    const rawKey = req.header('idempotency-key');
    const idempotencyKey =
      rawKey === undefined ? undefined : parseOr400(idempotencyKeyHeader, rawKey, 'Idempotency-Key');
    // A reused Idempotency-Key is settled by `jobs.create`, once the body is read: the same
    // request answers 200 with the first job (a second upload is deleted), another one 422.
    const id = randomUUID();
    if (req.is('multipart/form-data')) {
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
          upload.priority === undefined ? undefined : parseOr400(priorityField, upload.priority, 'priority');
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
    if (!req.is('application/json')) {
      throw new UnsupportedMediaTypeError('send multipart/form-data (with a file) or application/json');
    }
    await readJson(req, res, jobJson);
    const body = parseOr400(createJobBody, req.body, 'body');
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
  });

  // Up to 1,000 jobs in one request and one transaction; each job gets its own result, in order
  // (see JobsService.createMany). A job whose shape is wrong is that job's error; only a request
  // that is wrong as a whole (not JSON, no `jobs`, too many, no permission) is refused whole, and
  // then nothing is written.
  r.post('/batch', async (req, res) => {
    const owner = principalOf(res);
    requirePermission(owner, 'job:Create');
    if (req.header('idempotency-key') !== undefined) {
      throw new ValidationError(
        'Idempotency-Key: a batch takes no Idempotency-Key header; give each job its own idempotencyKey',
      );
    }
    if (!req.is('application/json')) {
      throw new UnsupportedMediaTypeError('send application/json: {"jobs":[{"type":…,"params":{…}}, …]}');
    }
    await readJson(req, res, batchJson);
    const { jobs: items } = parseOr400(jobsBatchEnvelope, req.body, 'body');
    const checked = items.map((item) => parseOrError(batchJobItem, item, 'job'));
    const valid: NewBatchJob[] = [];
    for (const c of checked) if (!(c instanceof ValidationError)) valid.push(c.data);
    const outcomes = await jobs.createMany(owner, valid);
    let next = 0;
    const results = checked.map((c) => (c instanceof ValidationError ? { error: c } : outcomes[next++]));
    res.json({
      created: results.filter((r) => 'job' in r && r.created).length,
      existing: results.filter((r) => 'job' in r && !r.created).length,
      failed: results.filter((r) => 'error' in r).length,
      results: results.map(batchResult),
    });
  });

  r.get('/', async (req, res) => {
    const q = parseOr400(listJobsQuery, req.query, 'query');
    if (wantsEventStream(req)) {
      return streamJobList(req, res, {
        ...deps,
        listFeed,
        viewer: principalOf(res),
        query: { status: q.status as JobStatus | undefined, type: q.type, all: q.all },
      });
    }
    res.json(await jobs.list(principalOf(res), { ...q, status: q.status as JobStatus | undefined }));
  });

  r.get('/:id', async (req, res) => {
    res.json(await jobs.get(principalOf(res), req.params.id));
  });

  r.get('/:id/logs', async (req, res) => {
    const q = parseOr400(logsQuery, req.query, 'query');
    if (wantsEventStream(req)) {
      return streamJobLogs(req, res, {
        ...deps,
        viewer: principalOf(res),
        id: req.params.id,
        after: q.after,
      });
    }
    res.json(await jobs.logs(principalOf(res), req.params.id, q));
  });

  // Cancelling a RUNNING job is a request its processor acts on within a heartbeat (about a
  // second). The answer waits that long for the real end, so `jobs cancel` can print CANCELLED;
  // a handler that ignores its signal leaves the job RUNNING with `cancelRequestedAt` set.
  r.post('/:id/cancel', async (req, res) => {
    const viewer = principalOf(res);
    const id = req.params.id;
    const requested = await deps.live.actThenAwaitEnd(
      id,
      () => jobs.cancel(viewer, id),
      (job) => job.status === 'RUNNING',
      CANCEL_WAIT_MS,
    );
    res.json(requested.status === 'RUNNING' ? await jobs.get(viewer, id) : requested);
  });

  r.post('/:id/retry', async (req, res) => {
    res.json(await jobs.retry(principalOf(res), req.params.id));
  });

  return r;
}

/** One job's result in a batch answer: the status its own POST would have had, and its job or error. */
function batchResult(r: BatchOutcome) {
  return 'job' in r
    ? { status: r.created ? 201 : 200, job: r.job }
    : { status: r.error.status, ...errorBody(r.error) };
}
