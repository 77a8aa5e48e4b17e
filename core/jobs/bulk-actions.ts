import { requirePermission } from '../auth/can.js';
import type { Principal } from '../auth/principal.js';
import type { Prisma } from '../db/database.js';
import { AppError, ValidationError } from '../errors.js';
import type { JobDto, JobStatus } from './job-dto.js';
import { idPrefixRange, type JobsService } from './jobs-service.js';

/** At most this many jobs per bulk request; a filter matching more says so (`more: true`). */
export const BULK_LIMIT = 100;

export type BulkAction = 'retry' | 'cancel';

/** The statuses each action applies to (what its single-job route accepts). */
export const BULK_STATUSES: Record<BulkAction, readonly JobStatus[]> = {
  retry: ['FAILED', 'CANCELLED'],
  cancel: ['PENDING', 'RUNNING'],
};

/** Which jobs: these ids, or those a list with this filter shows (and the action applies to). */
export type BulkTarget =
  { ids: string[] } | { filter: { status?: JobStatus; type?: string; all?: boolean; idPrefix?: string } };

export type BulkItem = { id: string; job: JobDto } | { id: string; error: AppError };

export interface BulkOutcome {
  action: BulkAction;
  /** One result per job, in the order of `ids` (or oldest first for a filter). */
  results: BulkItem[];
  /** A filter matched more than BULK_LIMIT jobs: send the same request again for the next ones. */
  more: boolean;
}

/**
 * Retry or cancel many jobs (POST /api/jobs/bulk): each job on its own, through the same
 * JobsService call as its single route (ownership, permissions, state, the active-jobs quota),
 * so one job in the wrong state or another user's job is that job's error and the rest go
 * ahead; nothing is all-or-nothing. A cancel only asks a RUNNING job to stop (it does not wait
 * for the end as POST /api/jobs/:id/cancel does).
 */
export class BulkActions {
  constructor(
    private readonly prisma: Prisma,
    private readonly jobs: JobsService,
  ) {}

  async run(viewer: Principal, action: BulkAction, target: BulkTarget): Promise<BulkOutcome> {
    requirePermission(viewer, 'job:Create');
    const { ids, more } =
      'ids' in target ? { ids: target.ids, more: false } : await this.match(viewer, action, target.filter);
    const results: BulkItem[] = [];
    for (const id of ids) {
      try {
        const job =
          action === 'retry' ? await this.jobs.retry(viewer, id) : await this.jobs.cancel(viewer, id);
        results.push({ id, job });
      } catch (err) {
        if (!(err instanceof AppError)) throw err;
        results.push({ id, error: err });
      }
    }
    return { action, results, more };
  }

  /** The ids of the first BULK_LIMIT jobs the filter and the action select, oldest first. */
  private async match(
    viewer: Principal,
    action: BulkAction,
    f: Extract<BulkTarget, { filter: unknown }>['filter'],
  ): Promise<{ ids: string[]; more: boolean }> {
    this.jobs.checkList(viewer, f);
    const applies = BULK_STATUSES[action];
    if (f.status && !applies.includes(f.status)) {
      throw new ValidationError(
        `filter.status: ${action} applies to ${applies.join(' or ')} jobs, not ${f.status}`,
      );
    }
    const rows = await this.prisma.job.findMany({
      where: {
        ...(f.all ? {} : { ownerId: viewer.userId }),
        status: f.status ? f.status : { in: [...applies] },
        ...(f.type ? { type: f.type } : {}),
        ...(f.idPrefix ? { id: idPrefixRange(f.idPrefix) } : {}),
      },
      select: { id: true },
      orderBy: [{ createdAt: 'asc' }, { id: 'asc' }],
      take: BULK_LIMIT + 1,
    });
    return { ids: rows.slice(0, BULK_LIMIT).map((r) => r.id), more: rows.length > BULK_LIMIT };
  }
}
