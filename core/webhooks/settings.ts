import type { Prisma } from '../db/database.js';
import { newSecret } from './signature.js';

/** How long deliveries stay signed with the secret a rotation replaced (as well as the new one). */
export const PREVIOUS_SECRET_GRACE_MS = 24 * 60 * 60 * 1000;

/** A user's webhook settings row, created (with a fresh secret) on first use. */
export interface WebhookSettingsRow {
  userId: string;
  secret: string;
  previousSecret: string | null;
  previousUntil: Date | null;
  defaultUrl: string | null;
  createdAt: Date;
  updatedAt: Date;
}

/** The users' settings, each created with a new secret if it had none (safe to race: first wins). */
export async function ensureSettings(
  prisma: Pick<Prisma, 'webhookSettings'>,
  userIds: readonly string[],
): Promise<Map<string, WebhookSettingsRow>> {
  const ids = [...new Set(userIds)];
  if (ids.length === 0) return new Map();
  let rows = await prisma.webhookSettings.findMany({ where: { userId: { in: ids } } });
  const missing = ids.filter((id) => !rows.some((r) => r.userId === id));
  if (missing.length > 0) {
    await prisma.webhookSettings.createMany({
      data: missing.map((userId) => ({ userId, secret: newSecret() })),
      skipDuplicates: true,
    });
    rows = await prisma.webhookSettings.findMany({ where: { userId: { in: ids } } });
  }
  return new Map(rows.map((r) => [r.userId, r]));
}

/** The secrets a delivery is signed with at `now`: the current one, and the previous one for a day. */
export function signingSecrets(s: WebhookSettingsRow, now: Date): string[] {
  return s.previousSecret && s.previousUntil && s.previousUntil > now
    ? [s.secret, s.previousSecret]
    : [s.secret];
}
