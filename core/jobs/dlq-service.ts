import { requirePermission } from '../auth/can.js';
import type { Principal } from '../auth/principal.js';
import type { Prisma } from '../db/database.js';
import { ValidationError } from '../errors.js';
import type { JobQueue } from '../queue/job-queue.js';
import { toJobDto, type JobDto } from './job-dto.js';
import type { JobStore } from './job-store.js';

export type DeadLetterDto = JobDto & { deadLetteredAt: string };

export interface DeadLetterList {
  items: DeadLetterDto[];
  /** Dead-lettered jobs in all (items holds the newest `limit`). */
  total: number;
  /** Messages in the queue's dead letters (SQS: the DLQ; 0 there without JOBS_SQS_DLQ_URL). */
  queueDeadLetters: number;
}

export interface RedriveResult {
  /** Jobs put back to PENDING with fresh attempts and a new message. */
  requeued: string[];
  /** Dead-letter messages moved back to the queue (messages of jobs not in `requeued`). */
  movedMessages: number;
  /** Dead-letter messages deleted because their job got a new message. */
  droppedMessages: number;
}

/**
 * The dead letters, for admins: jobs given up on after their attempts ran out (the job row is
 * marked `dead_lettered_at` when its message is dead-lettered), and redriving them.
 */
export class DlqService {
  constructor(
    private readonly prisma: Prisma,
    private readonly store: JobStore,
    private readonly queue: JobQueue,
  ) {}

  async list(viewer: Principal, q: { limit: number }): Promise<DeadLetterList> {
    this.requireAdmin(viewer);
    const where = { deadLetteredAt: { not: null } };
    const [rows, total, stats] = await Promise.all([
      this.prisma.job.findMany({
        where,
        orderBy: [{ deadLetteredAt: 'desc' }, { id: 'desc' }],
        take: q.limit,
      }),
      this.prisma.job.count({ where }),
      this.queue.stats(),
    ]);
    return {
      items: rows.map((r) => ({ ...toJobDto(r), deadLetteredAt: r.deadLetteredAt!.toISOString() })),
      total,
      queueDeadLetters: stats.deadLetters,
    };
  }

  /**
   * Sends dead-lettered jobs (all, or those in `ids`) back to the queue: each goes to PENDING with
   * its attempts reset to 0 (a full maxAttempts again, as `jobs retry` does), error and result
   * cleared, and a new message in the same transaction; a log line records the redrive. Then the
   * queue's own dead letters are moved back, except those of the jobs just requeued.
   */
  async redrive(viewer: Principal, opts: { ids?: string[] } = {}): Promise<RedriveResult> {
    this.requireAdmin(viewer);
    if (opts.ids?.some((id) => !UUID.test(id))) throw new ValidationError('ids must be job ids (uuids)');
    const requeued = await this.store.redrive(viewer.name, opts.ids);
    // With ids, only those jobs' messages are of interest; the queue's other dead letters stay.
    const moved = opts.ids
      ? { moved: 0, dropped: 0 }
      : await this.queue.redriveDeadLetters(new Set(requeued));
    return { requeued, movedMessages: moved.moved, droppedMessages: moved.dropped };
  }

  private requireAdmin(p: Principal): void {
    requirePermission(p, 'dlq:Manage', 'seeing and redriving dead letters');
  }
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
