import { can, requireJobManage, requirePermission } from '../auth/can.js';
import type { Principal } from '../auth/principal.js';
import type { Prisma } from '../db/database.js';
import { ConflictError, NotFoundError, UnknownJobTypeError, ValidationError } from '../errors.js';
import type { JobStore } from './job-store.js';
import type { Tx } from './store/types.js';
import { toJobDto, toJobLogDto, type JobDto, type JobLogDto, type JobStatus } from './job-dto.js';
import { assertSameRequest, type IdempotentRequest } from './idempotency.js';
import type { JobTypeRegistry } from './job-types.js';
import { checkActiveJobsQuota } from './quota.js';

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
}

/** How long an Idempotency-Key returns its job; after that the key is free again. */
export const IDEMPOTENCY_TTL_MS = 24 * 60 * 60 * 1000;

export interface ListQuery {
  status?: JobStatus;
  type?: string;
  limit: number;
  cursor?: string;
  all?: boolean;
}

/** Jobs as their owners (and admins) see them: create, read, list, logs, cancel, retry. */
export class JobsService {
  constructor(
    private readonly prisma: Prisma,
    private readonly store: JobStore,
    private readonly types: JobTypeRegistry,
    /** JOBS_MAX_ACTIVE_JOBS_PER_USER (core/jobs/quota.ts); absent or 0: no cap. */
    private readonly limits: { maxActiveJobsPerUser?: number } = {},
  ) {}

  /**
   * Validates type and params against the handler; throws UnknownJobTypeError (naming the valid
   * types) or ValidationError (naming the field). Returns the params with defaults applied.
   */
  validate(type: string, params: unknown, hasInput: boolean | undefined): unknown {
    const handler = this.types.find(type);
    if (!handler) {
      throw new UnknownJobTypeError(
        `unknown job type "${type}"; valid types: ${this.types.names().join(', ')}`,
        { validTypes: this.types.names() },
      );
    }
    const parsed = handler.params.safeParse(params ?? {});
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      const field = issue.path.length ? `params.${issue.path.join('.')}` : 'params';
      throw new ValidationError(`${field}: ${issue.message}`, { issues: parsed.error.issues });
    }
    if (hasInput === true && handler.input === 'none') {
      throw new ValidationError(`job type "${type}" takes no input file`);
    }
    if (hasInput === false && handler.input === 'required') {
      throw new ValidationError(`job type "${type}" needs an input file`);
    }
    return parsed.data;
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
    const handler = this.types.find(job.type)!;
    const maxAttempts = job.maxAttempts ?? handler.maxAttempts ?? 3;
    const asked = { ...job, params, maxAttempts };
    const earlier = job.idempotencyKey && (await this.findByIdempotencyKey(owner, job.idempotencyKey, asked));
    if (earlier) return { job: earlier, created: false };
    try {
      const row = await this.store.create(
        {
          id: job.id,
          type: job.type,
          params,
          ownerId: owner.userId,
          maxAttempts,
          idempotencyKey: job.idempotencyKey ?? null,
          input: job.input ?? null,
        },
        {
          idempotencyTtlMs: IDEMPOTENCY_TTL_MS,
          input: job.uploadId ? (tx) => claimUpload(tx, owner, job.uploadId!) : undefined,
          guard: (tx) => checkActiveJobsQuota(tx, owner.userId, this.limits.maxActiveJobsPerUser ?? 0),
        },
      );
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

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

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
