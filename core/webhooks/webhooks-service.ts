import { requirePermission } from '../auth/can.js';
import type { Principal } from '../auth/principal.js';
import type { Prisma } from '../db/database.js';
import type { JobsService } from '../jobs/jobs-service.js';
import { ensureSettings, PREVIOUS_SECRET_GRACE_MS } from './settings.js';
import { newSecret } from './signature.js';
import { checkWebhookUrl } from './webhook-url.js';

export type DeliveryState = 'pending' | 'delivered' | 'failed';

/** One POST of a delivery, as GET /api/jobs/:id/webhook-deliveries shows it. */
export interface WebhookAttemptDto {
  n: number;
  at: string;
  /** The receiver's HTTP status; null when none came (refused address, DNS, timeout, refused connection). */
  statusCode: number | null;
  error: string | null;
  durationMs: number;
}

/** One delivery of a job's end. */
export interface WebhookDeliveryDto {
  /** Sent as the Jobs-Delivery header, the same on every retry: receivers dedupe on it. */
  id: string;
  jobId: string;
  event: string;
  url: string;
  state: DeliveryState;
  attempts: number;
  /** When the next attempt is due (pending only). */
  nextAttemptAt: string | null;
  createdAt: string;
  /** When it was delivered or given up on. */
  finishedAt: string | null;
  history: WebhookAttemptDto[];
}

/** The owner's signing secret (GET and rotate). */
export interface WebhookSecretDto {
  secret: string;
  /** After a rotation, deliveries are signed with the previous secret too until then. */
  previousSecretValidUntil: string | null;
}

/**
 * Webhooks as their owners see them: the default URL a job gets when submitted without its own,
 * the signing secret (shown to its owner, rotated on request; never logged), and a job's deliveries.
 */
export class WebhooksService {
  constructor(
    private readonly prisma: Prisma,
    private readonly jobs: Pick<JobsService, 'get'>,
    private readonly opts: { allowPrivate: boolean; clock?: () => Date },
  ) {}

  async getDefault(owner: Principal): Promise<{ url: string | null }> {
    requirePermission(owner, 'job:Read');
    const row = await this.prisma.webhookSettings.findUnique({ where: { userId: owner.userId } });
    return { url: row?.defaultUrl ?? null };
  }

  /** Sets (or, with null, clears) the owner's default webhook URL, checked as a job's is. */
  async setDefault(owner: Principal, url: string | null): Promise<{ url: string | null }> {
    requirePermission(owner, 'job:Create');
    const checked = url === null ? null : checkWebhookUrl(url, { ...this.opts, field: 'url' });
    await ensureSettings(this.prisma, [owner.userId]);
    await this.prisma.webhookSettings.update({
      where: { userId: owner.userId },
      data: { defaultUrl: checked, updatedAt: new Date() },
    });
    return { url: checked };
  }

  /** The owner's signing secret, made on first use; with `rotate`, a new one (the old one signs too for a day). */
  async secret(owner: Principal, opts: { rotate?: boolean } = {}): Promise<WebhookSecretDto> {
    requirePermission(owner, 'job:Create', 'reading the webhook signing secret');
    let row = (await ensureSettings(this.prisma, [owner.userId])).get(owner.userId)!;
    if (opts.rotate) {
      const now = this.opts.clock?.() ?? new Date();
      row = await this.prisma.webhookSettings.update({
        where: { userId: owner.userId },
        data: {
          secret: newSecret(),
          previousSecret: row.secret,
          previousUntil: new Date(now.getTime() + PREVIOUS_SECRET_GRACE_MS),
          updatedAt: now,
        },
      });
    }
    const now = this.opts.clock?.() ?? new Date();
    return {
      secret: row.secret,
      previousSecretValidUntil:
        row.previousSecret && row.previousUntil && row.previousUntil > now
          ? row.previousUntil.toISOString()
          : null,
    };
  }

  /** A job's deliveries, oldest first, each with its attempts (the job's owner, or job:ReadAll). */
  async deliveries(viewer: Principal, jobId: string): Promise<{ items: WebhookDeliveryDto[] }> {
    await this.jobs.get(viewer, jobId); // 404 for a job the viewer may not see
    const rows = await this.prisma.webhookDelivery.findMany({
      where: { jobId },
      orderBy: [{ createdAt: 'asc' }, { id: 'asc' }],
      include: { tries: { orderBy: { n: 'asc' } } },
    });
    return {
      items: rows.map((d) => ({
        id: d.id,
        jobId: d.jobId,
        event: d.event,
        url: d.url,
        state: d.state as DeliveryState,
        attempts: d.attempts,
        nextAttemptAt: d.state === 'pending' ? d.nextAttemptAt.toISOString() : null,
        createdAt: d.createdAt.toISOString(),
        finishedAt: d.finishedAt?.toISOString() ?? null,
        history: d.tries.map((t) => ({
          n: t.n,
          at: t.at.toISOString(),
          statusCode: t.statusCode,
          error: t.error,
          durationMs: t.durationMs,
        })),
      })),
    };
  }
}
