import type { Job } from '../../db/generated/client.js';
import { Prisma as P } from '../../db/generated/client.js';
import type { Db, Tx } from './types.js';

/** A new job's row. */
export interface JobInsert {
  id: string;
  type: string;
  params: unknown;
  ownerId: string;
  maxAttempts: number;
  idempotencyKey: string | null;
  input: { key: string; name: string; size: number; sha256: string } | null;
  /** The schedule and tick this job is for (core/schedules/): unique per schedule and tick. */
  schedule?: { id: string; tickAt: Date };
  /** A delayed job: not to start before this (its queue message is held until then). */
  runAt?: Date | null;
  /** Where the job's end is POSTed (checked already); absent: its owner's default, if any. */
  webhookUrl?: string | null;
  /** Higher first (-100..100; default 0): the claim's order among an owner's jobs. */
  priority?: number;
}

/** Seconds until a job's `runAt` (0 when it has none or it is past): its queue message's delay. */
export function delaySecondsOf(job: Pick<JobInsert, 'runAt'>, now = Date.now()): number {
  return job.runAt ? Math.max(0, (job.runAt.getTime() - now) / 1000) : 0;
}

/**
 * Frees the owner's Idempotency-Key when the job holding it is older than `ttlMs` (the key is
 * unique per owner; an expired key belongs to nobody).
 */
export async function releaseIdempotencyKey(
  db: Db,
  ownerId: string,
  key: string,
  ttlMs: number,
): Promise<void> {
  await db.$executeRaw`
    UPDATE jobs SET idempotency_key = NULL
    WHERE owner_id = ${ownerId}::uuid AND idempotency_key = ${key}
      AND created_at <= now() - make_interval(secs => ${ttlMs / 1000}::float8)`;
}

/**
 * Inserts a PENDING job; the caller queues it in the same transaction. A key already held by
 * another job of the owner fails with Prisma's P2002 (unique violation).
 */
export async function insertJob(tx: Tx, job: JobInsert): Promise<Job> {
  const webhookUrl = job.webhookUrl ?? (await defaultWebhookUrl(tx, job.ownerId));
  return tx.job.create({
    data: {
      id: job.id,
      type: job.type,
      params: (job.params ?? {}) as P.InputJsonValue,
      ownerId: job.ownerId,
      maxAttempts: job.maxAttempts,
      idempotencyKey: job.idempotencyKey,
      inputKey: job.input?.key ?? null,
      inputName: job.input?.name ?? null,
      inputSize: job.input ? BigInt(job.input.size) : null,
      inputSha256: job.input?.sha256 ?? null,
      scheduleId: job.schedule?.id ?? null,
      scheduleTickAt: job.schedule?.tickAt ?? null,
      runAt: job.runAt ?? null,
      webhookUrl,
      priority: job.priority ?? 0,
    },
  });
}

/** The owner's default webhook URL (core/webhooks/), or null. */
async function defaultWebhookUrl(db: Db, ownerId: string): Promise<string | null> {
  const [row] = await db.$queryRaw<{ url: string | null }[]>`
    SELECT default_url AS url FROM webhook_settings WHERE user_id = ${ownerId}::uuid`;
  return row?.url ?? null;
}
