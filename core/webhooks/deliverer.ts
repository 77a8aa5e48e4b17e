import type { Logger } from 'pino';
import type { Prisma } from '../db/database.js';
import { toJobDto } from '../jobs/job-dto.js';
import { runPeriodically, type Periodic } from '../periodic.js';
import { postWebhook, type PostOutcome, type Resolve } from './post.js';
import { ensureSettings, signingSecrets } from './settings.js';
import { DELIVERY_HEADER, EVENT_HEADER, SIGNATURE_HEADER, signatureHeader } from './signature.js';

/** A delivery is retried for this long after the job ended, then given up on. */
export const DELIVERY_WINDOW_MS = 24 * 60 * 60 * 1000;
/** One POST may take this long (JOBS_WEBHOOK_TIMEOUT_SECONDS's default). */
export const DEFAULT_TIMEOUT_MS = 10_000;
/** How often a process with a reaper looks for due deliveries. */
export const DELIVERY_INTERVAL_MS = 1_000;

export interface DelivererOptions {
  prisma: Prisma;
  logger: Pick<Logger, 'warn' | 'info' | 'debug'>;
  /** JOBS_WEBHOOK_ALLOW_PRIVATE: deliveries may go to private and loopback addresses. */
  allowPrivate: boolean;
  timeoutMs?: number;
  /** Retries stop this long after the job ended (default a day). */
  windowMs?: number;
  /** Backoff: the first retry after about `baseDelayMs`, doubling, at most `maxDelayMs`, jittered. */
  baseDelayMs?: number;
  maxDelayMs?: number;
  /** Deliveries claimed (and POSTed at once) per round. */
  batch?: number;
  /** The clock every due time is read against (tests pass a fake one). */
  clock?: () => Date;
  /** Host name resolution (tests pass their own). */
  resolve?: Resolve;
  /** A number in [0, 1) for the jitter. */
  random?: () => number;
}

interface Claimed {
  id: string;
  job_id: string;
  event: string;
  url: string;
  attempts: number;
  payload: string | null;
  created_at: Date;
}

/**
 * Delivers the webhook deliveries the job store writes with each end of a job that has a webhook
 * (core/jobs/store/complete.ts and the other end statements: an outbox). Each round claims due
 * deliveries with FOR UPDATE SKIP LOCKED, moving their due time past the POST's timeout (a claim
 * that lapses, because its process died mid-POST, makes the delivery due again: at least once),
 * POSTs them at once, and records each attempt with the delivery's new state in one statement:
 * delivered on a 2xx; otherwise retried with exponential backoff and jitter until DELIVERY_WINDOW_MS
 * after the job ended, then failed (given up).
 *
 * The body is the job as GET /api/jobs/:id answers it, fixed at the first attempt (every retry of
 * a delivery sends the same bytes), signed per core/webhooks/signature.ts with its owner's secret.
 */
export class WebhookDeliverer {
  private readonly timeoutMs: number;
  private readonly windowMs: number;
  private readonly baseDelayMs: number;
  private readonly maxDelayMs: number;
  private readonly batch: number;
  private readonly clock: () => Date;
  private readonly random: () => number;

  constructor(private readonly opts: DelivererOptions) {
    this.timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    this.windowMs = opts.windowMs ?? DELIVERY_WINDOW_MS;
    this.baseDelayMs = opts.baseDelayMs ?? 30_000;
    this.maxDelayMs = opts.maxDelayMs ?? 60 * 60_000;
    this.batch = opts.batch ?? 20;
    this.clock = opts.clock ?? (() => new Date());
    this.random = opts.random ?? Math.random;
  }

  /** Delivers everything due now (round after round while rounds come back full); the attempts made. */
  async deliverDue(): Promise<number> {
    let made = 0;
    for (;;) {
      const claimed = await this.claim();
      if (claimed.length === 0) return made;
      await this.deliver(claimed);
      made += claimed.length;
      if (claimed.length < this.batch) return made;
    }
  }

  private async claim(): Promise<Claimed[]> {
    const now = this.clock();
    // Past the POST's own deadline, with room for recording it: only a dead process lets it lapse.
    const lapse = new Date(now.getTime() + this.timeoutMs * 2 + 5_000);
    return this.opts.prisma.$queryRaw<Claimed[]>`
      UPDATE webhook_deliveries d SET next_attempt_at = ${lapse}::timestamptz
      FROM (
        SELECT id FROM webhook_deliveries
        WHERE state = 'pending' AND next_attempt_at <= ${now}::timestamptz
        ORDER BY next_attempt_at
        LIMIT ${this.batch}::int
        FOR UPDATE SKIP LOCKED
      ) due
      WHERE d.id = due.id
      RETURNING d.id::text AS id, d.job_id::text AS job_id, d.event, d.url, d.attempts, d.payload,
        d.created_at`;
  }

  private async deliver(claimed: Claimed[]): Promise<void> {
    const { prisma } = this.opts;
    const jobs = new Map(
      (await prisma.job.findMany({ where: { id: { in: claimed.map((c) => c.job_id) } } })).map((j) => [
        j.id,
        j,
      ]),
    );
    const settings = await ensureSettings(
      prisma,
      [...jobs.values()].map((j) => j.ownerId),
    );
    await Promise.all(
      claimed.map(async (d) => {
        const job = jobs.get(d.job_id);
        if (!job) return; // deleted since (its deliveries went with it)
        const payload = d.payload ?? JSON.stringify(toJobDto(job));
        const now = this.clock();
        const timestamp = Math.floor(now.getTime() / 1000);
        const outcome = await postWebhook(
          d.url,
          payload,
          {
            'Content-Type': 'application/json',
            'User-Agent': 'jobs-webhooks/1',
            [DELIVERY_HEADER]: d.id,
            [EVENT_HEADER]: d.event,
            [SIGNATURE_HEADER]: signatureHeader(
              signingSecrets(settings.get(job.ownerId)!, now),
              timestamp,
              payload,
            ),
          },
          { timeoutMs: this.timeoutMs, allowPrivate: this.opts.allowPrivate, resolve: this.opts.resolve },
        );
        await this.record(d, payload, now, outcome);
      }),
    );
  }

  /** The attempt, and the delivery's next state, in one statement (guarded by its attempt count). */
  private async record(d: Claimed, payload: string, at: Date, o: PostOutcome): Promise<void> {
    const n = d.attempts + 1;
    const ok = o.statusCode !== null && o.statusCode >= 200 && o.statusCode < 300;
    const now = this.clock();
    const deadline = d.created_at.getTime() + this.windowMs;
    const backoff = Math.min(this.maxDelayMs, this.baseDelayMs * 2 ** (n - 1));
    const next = Math.min(deadline, now.getTime() + backoff / 2 + (this.random() * backoff) / 2);
    const state = ok ? 'delivered' : now.getTime() >= deadline ? 'failed' : 'pending';
    await this.opts.prisma.$executeRaw`
      WITH updated AS (
        UPDATE webhook_deliveries SET attempts = ${n}::int, state = ${state}::text,
          payload = coalesce(payload, ${payload}::text),
          next_attempt_at = ${state === 'pending' ? new Date(next) : now}::timestamptz,
          finished_at = ${state === 'pending' ? null : now}::timestamptz
        WHERE id = ${d.id}::uuid AND attempts = ${d.attempts}::int
        RETURNING id
      )
      INSERT INTO webhook_attempts (delivery_id, n, at, status_code, error, duration_ms)
      SELECT id, ${n}::int, ${at}::timestamptz, ${o.statusCode}::int, ${o.error}::text,
        ${o.durationMs}::int
      FROM updated`;
    if (state === 'failed')
      this.opts.logger.warn(
        { deliveryId: d.id, jobId: d.job_id, attempts: n, error: o.error },
        `webhook: gave up on delivering job ${d.job_id}'s end after ${n} attempts`,
      );
    else if (!ok)
      this.opts.logger.debug(
        { deliveryId: d.id, jobId: d.job_id, attempt: n, error: o.error },
        'webhook: attempt failed',
      );
  }
}

/** Runs `deliverDue` every `intervalMs` in a process that runs a reaper (`jobs server`, `jobs worker`). */
export function startWebhookDeliverer(
  deliverer: WebhookDeliverer,
  opts: { logger: Logger; intervalMs?: number },
): Periodic {
  const intervalMs = opts.intervalMs ?? DELIVERY_INTERVAL_MS;
  return runPeriodically('delivering webhooks', () => deliverer.deliverDue(), {
    intervalMs,
    firstDelayMs: intervalMs,
    logger: opts.logger,
  });
}
