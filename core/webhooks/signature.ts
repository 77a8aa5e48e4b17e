import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

/** The header of a delivery's signature: `t=<unix seconds>,v1=<hex HMAC-SHA256>[,v1=…]`. */
export const SIGNATURE_HEADER = 'Jobs-Signature';
/** The header with the delivery's id: the same on every retry of it (receivers dedupe on it). */
export const DELIVERY_HEADER = 'Jobs-Delivery';
/** The header naming what happened: job.completed, job.failed, job.cancelled, job.dead_lettered. */
export const EVENT_HEADER = 'Jobs-Event';

/** A new signing secret: `whsec_` and 32 random bytes (base64url). */
export function newSecret(): string {
  return `whsec_${randomBytes(32).toString('base64url')}`;
}

/** The hex HMAC-SHA256 of `${timestamp}.${body}` under `secret` (the secret's UTF-8 bytes). */
export function signatureOf(secret: string, timestamp: number, body: string): string {
  return createHmac('sha256', secret).update(`${timestamp}.${body}`).digest('hex');
}

/**
 * The Jobs-Signature value of one delivery: the timestamp, and one `v1` per secret (two for a day
 * after a rotation, the new one first, so a receiver may switch secrets at its own pace).
 */
export function signatureHeader(secrets: readonly string[], timestamp: number, body: string): string {
  return [`t=${timestamp}`, ...secrets.map((s) => `v1=${signatureOf(s, timestamp, body)}`)].join(',');
}

/**
 * A receiver's check (the README's example does the same): the header parses, its timestamp is
 * within `toleranceSeconds` of `nowSeconds`, and one of its `v1` signatures matches, compared in
 * constant time. Used by the tests as a receiver would.
 */
export function verifySignature(
  secret: string,
  header: string,
  body: string,
  opts: { toleranceSeconds?: number; nowSeconds?: number } = {},
): boolean {
  const parts = header.split(',').map((p) => p.split('='));
  const t = Number(parts.find(([k]) => k === 't')?.[1]);
  if (!Number.isInteger(t)) return false;
  const now = opts.nowSeconds ?? Math.floor(Date.now() / 1000);
  if (Math.abs(now - t) > (opts.toleranceSeconds ?? 300)) return false;
  const expected = Buffer.from(signatureOf(secret, t, body), 'hex');
  return parts
    .filter(([k]) => k === 'v1')
    .some(([, v]) => {
      const got = Buffer.from(v ?? '', 'hex');
      return got.length === expected.length && timingSafeEqual(got, expected);
    });
}
