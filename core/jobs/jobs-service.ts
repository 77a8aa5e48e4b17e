import { randomUUID } from 'node:crypto';
import { can, requireJobManage, requirePermission } from '../auth/can.js';
import type { Principal } from '../auth/principal.js';
import type { Prisma } from '../db/database.js';
import type { Job as JobRow } from '../db/generated/client.js';
import {
  AppError,
  ConflictError,
  IdempotencyConflictError,
  NotFoundError,
  QuotaExceededError,
  ValidationError,
} from '../errors.js';
import type { CreateOutcome, JobInsert, JobStore } from './job-store.js';
import { GroupCommit } from '../db/group-commit.js';
import type { Tx } from './store/types.js';
import { toJobDto, toJobLogDto, type JobDto, type JobLogDto, type JobStatus } from './job-dto.js';
import {
  assertSameRequest,
  idempotencyConflict,
  idempotencyDifferences,
  type IdempotentRequest,
} from './idempotency.js';
import type { JobTypeRegistry } from './job-types.js';
import { runAtFrom } from './run-at.js';
import { findOutput, type JobOutput } from './outputs.js';
import { isPriority, PRIORITY_MAX, PRIORITY_MIN } from './priority.js';
import { admitWithinQuota, checkActiveJobsQuota, quotaExceeded } from './quota.js';
import { checkWebhookUrl } from '../webhooks/webhook-url.js';

export interface NewJob {
  /** Chosen by the caller so an upload can be stored under the job's key before the row exists. */
  id: string;
  type: string;
  params: unknown;
  input?: { key: string; name: string; size: number; sha256: string };
  /** A completed direct upload (POST /api/uploads) to use as the input; it becomes USED. */
  uploadId?: string;
  idempotencyKey?: string;
  /** Overrides the type's maxAttempts for this job (validated by the route: 1..MAX_ATTEMPTS_LIMIT). */
  maxAttempts?: number;
  /** A delayed job: from now ("10m") or at a time (ISO 8601); see core/jobs/run-at.ts. */
  delay?: string;
  runAt?: string;
  /** Where the job's end is POSTed (core/webhooks/); absent: the owner's default, if any. */
  webhookUrl?: string;
  /** Higher first (-100..100); absent: the type's default (core/jobs/scheduling.ts). */
  priority?: number;
}

/** One job of a batch (POST /api/jobs/batch): no input file; its shape already checked. */
export interface NewBatchJob {
  type: string;
  params?: unknown;
  idempotencyKey?: string;
  /** Overrides the type's maxAttempts (validated by the route: 1..MAX_ATTEMPTS_LIMIT). */
  maxAttempts?: number;
  delay?: string;
  runAt?: string;
  webhookUrl?: string;
  priority?: number;
}

/**
 * What became of one job of a batch: created, or the earlier job its Idempotency-Key names
 * (`created: false`); or its own error (the one a single POST of it would have answered).
 */
export type BatchOutcome = { job: JobDto; created: boolean } | { error: AppError };

/** How long an Idempotency-Key returns its job; after that the key is free again. */
export const IDEMPOTENCY_TTL_MS = 24 * 60 * 60 * 1000;

export interface ListQuery {
  status?: JobStatus;
  type?: string;
  limit: number;
  cursor?: string;
  all?: boolean;
  /** Only jobs whose id starts with this (hex digits, dashes ignored): how the CLI takes short ids. */
  idPrefix?: string;
}

/** The first and last uuid starting with `prefix` (hex digits; dashes ignored): a range of the primary key. */
export function idPrefixRange(prefix: string): { gte: string; lte: string } {
  const hex = prefix.replaceAll('-', '').toLowerCase().slice(0, 32);
  const uuid = (h: string) =>
    `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
  return { gte: uuid(hex.padEnd(32, '0')), lte: uuid(hex.padEnd(32, 'f')) };
}

/** Jobs as their owners (and admins) see them: create, read, list, logs, cancel, retry. */
export class JobsService {
  /**
   * Single creates (POST /api/jobs without a direct upload), group-committed: one transaction,
   * one multi-row INSERT, for the requests that arrive while the previous one commits.
   */
  private readonly creates = new GroupCommit<JobInsert, CreateOutcome>((jobs) =>
    this.store.createMany(jobs, { idempotencyTtlMs: IDEMPOTENCY_TTL_MS, admit: this.admit() }),
  );

  constructor(
    private readonly prisma: Prisma,
    private readonly store: JobStore,
    private readonly types: JobTypeRegistry,
    /** JOBS_MAX_ACTIVE_JOBS_PER_USER (core/jobs/quota.ts); absent or 0: no cap. */
    private readonly limits: { maxActiveJobsPerUser?: number } = {},
    /** JOBS_WEBHOOK_ALLOW_PRIVATE: webhook URLs may name private and loopback addresses. */
    private readonly webhooks: { allowPrivate: boolean } = { allowPrivate: false },
  ) {}

  /** The job's webhook URL checked and normalized (core/webhooks/webhook-url.ts); undefined if none. */
  private webhookUrlOf(url: string | undefined): string | undefined {
    return url === undefined ? undefined : checkWebhookUrl(url, this.webhooks);
  }

  /**
   * The owners' active-jobs cap as `createMany`'s `admit` hook; none without a cap, which leaves
   * the store its one-statement create.
   */
  private admit() {
    const max = this.limits.maxActiveJobsPerUser ?? 0;
    return max > 0 ? admitWithinQuota(max) : undefined;
  }

  /**
   * Validates type and params against the handler (JobTypeRegistry.validate): throws
   * UnknownJobTypeError (naming the valid types) or ValidationError (naming the field). Returns
   * the params with defaults applied.
   */
  validate(type: string, params: unknown, hasInput: boolean | undefined): unknown {
    return this.types.validate(type, params, hasInput);
  }

  /**
   * An earlier job created with the same Idempotency-Key by the same owner in the last 24 h. With
   * `request`, throws IdempotencyConflictError (422) when that job was created by a different one.
   */
  async findByIdempotencyKey(
    owner: Principal,
    key: string,
    request?: IdempotentRequest,
  ): Promise<JobDto | undefined> {
    const row = await this.prisma.job.findFirst({
      where: {
        ownerId: owner.userId,
        idempotencyKey: key,
        createdAt: { gt: new Date(Date.now() - IDEMPOTENCY_TTL_MS) },
      },
    });
    if (row && request) await assertSameRequest(this.prisma, key, row, request);
    return row ? toJobDto(row) : undefined;
  }

  /**
   * Records the job and queues it in one transaction. Returns `created: false` with the earlier
   * job when the owner's Idempotency-Key was used before by the same request (the caller drops
   * its upload); a different request with that key is an IdempotencyConflictError (422).
   */
  async create(owner: Principal, job: NewJob): Promise<{ job: JobDto; created: boolean }> {
    this.require(owner, 'job:Create');
    const params = this.validate(job.type, job.params, job.input !== undefined || job.uploadId !== undefined);
    const runAt = runAtFrom(job);
    const webhookUrl = this.webhookUrlOf(job.webhookUrl);
    const priority = this.priorityOf(job);
    const handler = this.types.find(job.type)!;
    const maxAttempts = job.maxAttempts ?? handler.maxAttempts ?? 3;
    const asked = { ...job, params, maxAttempts, webhookUrl };
    const earlier = job.idempotencyKey && (await this.findByIdempotencyKey(owner, job.idempotencyKey, asked));
    if (earlier) return { job: earlier, created: false };
    const insert: JobInsert = {
      id: job.id,
      type: job.type,
      params,
      ownerId: owner.userId,
      maxAttempts,
      idempotencyKey: job.idempotencyKey ?? null,
      input: job.input ?? null,
      runAt,
      webhookUrl,
      priority,
    };
    if (!job.uploadId) {
      // Group-committed: requests that arrive while a create commits share the next transaction.
      const outcome = await this.creates.submit(insert);
      if (outcome.kind === 'created') return { job: toJobDto(outcome.job), created: true };
      if (outcome.kind === 'refused') throw quotaExceeded(this.limits.maxActiveJobsPerUser ?? 0);
      // Its key was taken by a request that committed first: answer with that request's job.
      const existing = await this.findByIdempotencyKey(owner, job.idempotencyKey!, asked);
      if (existing) return { job: existing, created: false };
      throw new ConflictError(
        `Idempotency-Key "${job.idempotencyKey}" was taken by a concurrent request and freed again; send the job again`,
      );
    }
    try {
      // A direct upload is claimed inside the create's own transaction (it rolls back with it).
      const row = await this.store.create(insert, {
        idempotencyTtlMs: IDEMPOTENCY_TTL_MS,
        input: (tx) => claimUpload(tx, owner, job.uploadId!),
        guard: (tx) => checkActiveJobsQuota(tx, owner.userId, this.limits.maxActiveJobsPerUser ?? 0),
      });
      return { job: toJobDto(row), created: true };
    } catch (err) {
      // Two requests raced with one Idempotency-Key: the loser answers with the winner's job.
      if (job.idempotencyKey && (err as { code?: string }).code === 'P2002') {
        const existing = await this.findByIdempotencyKey(owner, job.idempotencyKey, asked);
        if (existing) return { job: existing, created: false };
      }
      throw err;
    }
  }

  /** A job's priority: as submitted (checked), else its type's default. */
  private priorityOf(job: { type: string; priority?: number }): number {
    if (job.priority === undefined) return this.types.priorityOf(job.type);
    if (!isPriority(job.priority))
      throw new ValidationError(
        `priority must be a whole number from ${PRIORITY_MIN} to ${PRIORITY_MAX} (higher runs first); got ${JSON.stringify(job.priority)}`,
      );
    return job.priority;
  }

  /**
   * Creates a batch of jobs in one transaction; each job gets its own outcome, in order. A job
   * that fails validation (unknown type, bad params, a type that needs an input file) gets the
   * error its own POST would have had, and the rest go ahead. An Idempotency-Key works per job as
   * on POST /api/jobs: used before with the same request, the job answers with the earlier job;
   * with another request, with the 422 conflict. Two jobs of one batch with one key: the first
   * counts, the second is answered like a retry of it.
   *
   * The owner's active-jobs cap (JOBS_MAX_ACTIVE_JOBS_PER_USER) admits jobs in order while there
   * is room; those past it get `quota_exceeded` each. When that leaves the batch with nothing
   * done at all (every job over the cap), the whole batch is refused with QuotaExceededError (a
   * 429 with Retry-After, as a single POST is).
   */
  async createMany(owner: Principal, items: readonly NewBatchJob[]): Promise<BatchOutcome[]> {
    this.require(owner, 'job:Create');
    const max = this.limits.maxActiveJobsPerUser ?? 0;
    const results: BatchOutcome[] = new Array(items.length);
    const valid: BatchItem[] = [];
    items.forEach((item, index) => {
      try {
        const params = this.validate(item.type, item.params, false);
        const runAt = runAtFrom(item);
        const webhookUrl = this.webhookUrlOf(item.webhookUrl);
        const priority = this.priorityOf(item);
        const maxAttempts = item.maxAttempts ?? this.types.find(item.type)!.maxAttempts ?? 3;
        const key = item.idempotencyKey;
        valid.push({
          index,
          key,
          asked: { type: item.type, params, maxAttempts, webhookUrl },
          insert: {
            id: randomUUID(),
            type: item.type,
            params,
            ownerId: owner.userId,
            maxAttempts,
            idempotencyKey: key ?? null,
            input: null,
            runAt,
            webhookUrl,
            priority,
          },
        });
      } catch (err) {
        if (!(err instanceof AppError)) throw err;
        results[index] = { error: err };
      }
    });

    // A key's first job in the batch is the one that counts; later ones are answered like it.
    const firstOfKey = new Map<string, BatchItem>();
    const repeats: { item: BatchItem; first: BatchItem }[] = [];
    const candidates: BatchItem[] = [];
    for (const item of valid) {
      const first = item.key === undefined ? undefined : firstOfKey.get(item.key);
      if (first) repeats.push({ item, first });
      else {
        if (item.key !== undefined) firstOfKey.set(item.key, item);
        candidates.push(item);
      }
    }

    // Keys used by earlier requests (read before the transaction: one query for the batch).
    const earlier = await this.jobsByKeys(owner, [...firstOfKey.keys()]);
    const fresh = candidates.filter((item) => {
      const row = item.key === undefined ? undefined : earlier.get(item.key);
      if (row) results[item.index] = replay(item, row);
      return !row;
    });

    const outcomes = await this.store.createMany(
      fresh.map((item) => item.insert),
      { idempotencyTtlMs: IDEMPOTENCY_TTL_MS, admit: this.admit() },
    );
    const raced: BatchItem[] = [];
    outcomes.forEach((o, i) => {
      const item = fresh[i];
      if (o.kind === 'created') results[item.index] = { job: toJobDto(o.job), created: true };
      else if (o.kind === 'refused') results[item.index] = { error: quotaExceeded(max) };
      else raced.push(item);
    });
    // A concurrent request took a key between the read above and the insert: like the single
    // POST's race, the job answers with that request's job (or the conflict).
    if (raced.length > 0) {
      const taken = await this.jobsByKeys(
        owner,
        raced.map((item) => item.key!),
      );
      for (const item of raced) {
        const row = taken.get(item.key!);
        results[item.index] = row
          ? replay(item, row)
          : {
              error: new ConflictError(
                `Idempotency-Key "${item.key}" was taken by a concurrent request and freed again; send the job again`,
              ),
            };
      }
    }
    for (const { item, first } of repeats) results[item.index] = repeatOf(item, first, results[first.index]);

    const overCap = (r: BatchOutcome) => 'error' in r && r.error instanceof QuotaExceededError;
    if (results.length > 0 && results.every(overCap)) throw quotaExceeded(max);
    return results;
  }

  /** The owner's jobs holding these Idempotency-Keys (live: created in the last 24 h), by key. */
  private async jobsByKeys(owner: Principal, keys: string[]): Promise<Map<string, JobRow>> {
    if (keys.length === 0) return new Map();
    const rows = await this.prisma.job.findMany({
      where: {
        ownerId: owner.userId,
        idempotencyKey: { in: keys },
        createdAt: { gt: new Date(Date.now() - IDEMPOTENCY_TTL_MS) },
      },
    });
    return new Map(rows.map((r) => [r.idempotencyKey!, r]));
  }

  async get(viewer: Principal, id: string): Promise<JobDto> {
    return toJobDto(await this.visibleRow(viewer, id));
  }

  async list(viewer: Principal, q: ListQuery): Promise<{ items: JobDto[]; nextCursor: string | null }> {
    this.checkList(viewer, q);
    const after = q.cursor ? decodeCursor(q.cursor) : undefined;
    const rows = await this.prisma.job.findMany({
      where: {
        ...(q.all ? {} : { ownerId: viewer.userId }),
        ...(q.status ? { status: q.status } : {}),
        ...(q.type ? { type: q.type } : {}),
        ...(q.idPrefix ? { id: idPrefixRange(q.idPrefix) } : {}),
        // Keyset pagination on (createdAt, id), both descending: stable under inserts, and each
        // page is an index range scan however deep the caller goes. `createdAt <= cursor` is
        // what bounds the scan: with the OR alone, Postgres walks the index from the newest job
        // and filters (bench:scale, 1M jobs: 130 ms for a page half-way down, 0.05 ms with it).
        ...(after
          ? {
              createdAt: { lte: after.createdAt },
              OR: [{ createdAt: { lt: after.createdAt } }, { id: { lt: after.id } }],
            }
          : {}),
      },
      orderBy: [{ createdAt: 'desc' }, { id: 'desc' }],
      take: q.limit + 1,
    });
    const page = rows.slice(0, q.limit);
    const last = page.at(-1);
    return {
      items: page.map(toJobDto),
      nextCursor: rows.length > q.limit && last ? encodeCursor(last.createdAt, last.id) : null,
    };
  }

  /** Throws unless the viewer may list jobs with this query (`all` needs `job:ReadAll`). */
  checkList(viewer: Principal, q: Pick<ListQuery, 'all'>): void {
    this.require(viewer, 'job:Read');
    if (q.all) requirePermission(viewer, 'job:ReadAll', "listing every user's jobs (all=true)");
  }

  /**
   * Of the jobs `ids`, those the viewer's list (same filters as `list`) shows: for the live list,
   * after they changed. Call `checkList` first.
   */
  async listed(
    viewer: Principal,
    ids: string[],
    q: Pick<ListQuery, 'status' | 'type' | 'all'>,
  ): Promise<JobDto[]> {
    if (ids.length === 0) return [];
    const rows = await this.prisma.job.findMany({
      where: {
        id: { in: ids },
        ...(q.all ? {} : { ownerId: viewer.userId }),
        ...(q.status ? { status: q.status } : {}),
        ...(q.type ? { type: q.type } : {}),
      },
      orderBy: [{ createdAt: 'asc' }, { id: 'asc' }],
    });
    return rows.map(toJobDto);
  }

  /**
   * Up to `limit` log lines with `seq > after`, for a viewer already shown the job (live
   * streams re-read without re-checking access on every batch).
   */
  async logsAfter(id: string, after: number, limit: number): Promise<JobLogDto[]> {
    const rows = await this.prisma.jobLog.findMany({
      where: { jobId: id, seq: { gt: after } },
      orderBy: { seq: 'asc' },
      take: limit,
    });
    return rows.map(toJobLogDto);
  }

  /** The job by id with no access check (live streams, after `get` checked it); null if gone. */
  async find(id: string): Promise<JobDto | null> {
    const row = await this.prisma.job.findUnique({ where: { id } });
    return row ? toJobDto(row) : null;
  }

  async logs(
    viewer: Principal,
    id: string,
    q: { after: number; limit: number },
  ): Promise<{ items: JobLogDto[]; nextAfter: number | null }> {
    await this.visibleRow(viewer, id);
    const rows = await this.prisma.jobLog.findMany({
      where: { jobId: id, seq: { gt: q.after } },
      orderBy: { seq: 'asc' },
      take: q.limit + 1,
    });
    const page = rows.slice(0, q.limit);
    return {
      items: page.map(toJobLogDto),
      nextAfter: rows.length > q.limit ? page[page.length - 1].seq : null,
    };
  }

  /**
   * Cancels a PENDING job at once; for a RUNNING job, asks its processor to stop the handler
   * (it writes CANCELLED with the handler's last lines, within a heartbeat). Resolves with the job
   * as it is right after: CANCELLED, or RUNNING with `cancelRequestedAt` set.
   */
  async cancel(viewer: Principal, id: string): Promise<JobDto> {
    const job = await this.visibleRow(viewer, id);
    requireJobManage(viewer, job.ownerId);
    const r = await this.store.requestCancel(id, viewer.name);
    if (r.kind === 'not-cancellable')
      throw new ConflictError(`job ${id} is ${job.status}; only PENDING or RUNNING jobs can be cancelled`);
    return this.get(viewer, id);
  }

  /** Puts a FAILED or CANCELLED job back in the queue with fresh attempts. */
  async retry(viewer: Principal, id: string): Promise<JobDto> {
    const job = await this.visibleRow(viewer, id);
    requireJobManage(viewer, job.ownerId);
    // A retry puts a job back in line: it counts against its owner's cap like a new one.
    const quota = (tx: Tx) => checkActiveJobsQuota(tx, job.ownerId, this.limits.maxActiveJobsPerUser ?? 0);
    if (!(await this.store.retry(id, ['FAILED', 'CANCELLED'].includes(job.status) ? quota : undefined)))
      throw new ConflictError(`job ${id} is ${job.status}; only FAILED or CANCELLED jobs can be retried`);
    return this.get(viewer, id);
  }

  /**
   * One listed output of a job the viewer may see, with its blob key (GET
   * /api/jobs/:id/outputs/:name); NotFoundError for another user's job, or no such output.
   */
  async output(viewer: Principal, id: string, name: string): Promise<JobOutput & { key: string }> {
    return outputOf(await this.visibleRow(viewer, id), name);
  }

  /**
   * The same for a signed download link (server/routes/outputs.ts), whose signature stands for
   * the viewer who asked for it.
   */
  async outputBySignedLink(id: string, name: string): Promise<JobOutput & { key: string }> {
    const row = UUID.test(id)
      ? await this.prisma.job.findUnique({ where: { id }, select: { id: true, outputs: true } })
      : null;
    if (!row) throw new NotFoundError(`job ${id} not found`);
    return outputOf(row, name);
  }

  /** The job if the viewer may see it; another user's job is indistinguishable from none. */
  private async visibleRow(viewer: Principal, id: string) {
    this.require(viewer, 'job:Read');
    const row = UUID.test(id) ? await this.prisma.job.findUnique({ where: { id } }) : null;
    if (!row || (row.ownerId !== viewer.userId && !can(viewer, 'job:ReadAll'))) {
      throw new NotFoundError(`job ${id} not found`);
    }
    return row;
  }

  private require(p: Principal, permission: 'job:Create' | 'job:Read'): void {
    requirePermission(p, permission);
  }
}

/**
 * Marks the caller's COMPLETED upload USED (one job per upload) and returns it as the job's input;
 * the job row references the upload's key, nothing is copied. Rolled back with the job on failure.
 */
async function claimUpload(
  tx: Tx,
  owner: Principal,
  uploadId: string,
): Promise<NonNullable<NewJob['input']>> {
  const row = UUID.test(uploadId) ? await tx.upload.findUnique({ where: { id: uploadId } }) : null;
  if (!row || row.ownerId !== owner.userId) throw new NotFoundError(`upload ${uploadId} not found`);
  const claimed = await tx.upload.updateMany({
    where: { id: uploadId, status: 'COMPLETED' },
    data: { status: 'USED' },
  });
  if (claimed.count === 0) {
    throw new ConflictError(
      row.status === 'PENDING'
        ? `upload ${uploadId} is not completed yet`
        : `upload ${uploadId} was already used by a job`,
    );
  }
  // Read before the claim: a client that declared the SHA-256 at completion, completing meanwhile,
  // left it null in `row`; the row as claimed has it.
  const sha256 = row.sha256 ?? (await tx.upload.findUniqueOrThrow({ where: { id: uploadId } })).sha256;
  if (!sha256) throw new Error(`upload ${uploadId} is COMPLETED without a SHA-256`);
  return { key: row.key, name: row.fileName, size: Number(row.size), sha256 };
}

function outputOf(row: { id: string; outputs: unknown }, name: string): JobOutput & { key: string } {
  const out = findOutput(row.outputs, name);
  if (!out) throw new NotFoundError(`job ${row.id} has no output ${JSON.stringify(name)}`);
  return out;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** A valid job of a batch on its way: its place, its key, what it asks for, its row. */
interface BatchItem {
  index: number;
  key?: string;
  asked: IdempotentRequest;
  insert: JobInsert;
}

/** A batch job whose key an earlier job holds: that job if the request is the same, else a 422. */
function replay(item: BatchItem, row: JobRow): BatchOutcome {
  const fields = idempotencyDifferences(row, item.asked);
  return fields.length > 0
    ? { error: idempotencyConflict(item.key!, row.id, fields) }
    : { job: toJobDto(row), created: false };
}

/**
 * A later job of the batch with the key of an earlier one: the same request is answered as the
 * first was (its job, not created again; or its error), another request with a 422.
 */
function repeatOf(item: BatchItem, first: BatchItem, outcome: BatchOutcome): BatchOutcome {
  const fields = idempotencyDifferences(
    {
      type: first.asked.type,
      params: first.asked.params as JobRow['params'],
      maxAttempts: first.asked.maxAttempts,
      inputName: null,
      inputSize: null,
      inputSha256: null,
      inputKey: null,
      webhookUrl: first.asked.webhookUrl ?? null,
    },
    item.asked,
  );
  if (fields.length === 0) return 'job' in outcome ? { job: outcome.job, created: false } : outcome;
  if ('job' in outcome) return { error: idempotencyConflict(item.key!, outcome.job.id, fields) };
  return {
    error: new IdempotencyConflictError(
      `Idempotency-Key "${item.key}" is used by job ${first.index} of this batch for a different request ` +
        `(${fields.join(', ')} differ); send a new key for a new job`,
      { item: first.index, fields },
    ),
  };
}

function encodeCursor(createdAt: Date, id: string): string {
  return Buffer.from(`${createdAt.toISOString()}|${id}`).toString('base64url');
}

function decodeCursor(cursor: string): { createdAt: Date; id: string } {
  const [ts, id] = Buffer.from(cursor, 'base64url').toString('utf8').split('|');
  // Exactly what encodeCursor writes: `new Date` also takes "-000001-…" (a year PostgreSQL refuses).
  const createdAt = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/.test(ts) ? new Date(ts) : new Date(NaN);
  if (!id || !UUID.test(id) || !(createdAt.getUTCFullYear() >= 1))
    throw new ValidationError('invalid cursor');
  return { createdAt, id };
}
