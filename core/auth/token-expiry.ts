import { ValidationError } from '../errors.js';

const UNIT_MS = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 7 * 86_400_000 } as const;

/** The longest lifetime a token can be given (ten years): past it, leave the expiry out. */
export const MAX_TOKEN_LIFETIME_MS = 3650 * UNIT_MS.d;

/**
 * A duration such as `90d`, `12h`, `30m`, `45s` or `2w` in milliseconds; undefined when `text`
 * is not one.
 */
export function parseDuration(text: string): number | undefined {
  const m = /^\s*(\d{1,7})\s*([smhdw])\s*$/i.exec(text);
  if (!m) return undefined;
  return Number(m[1]) * UNIT_MS[m[2]!.toLowerCase() as keyof typeof UNIT_MS];
}

/**
 * When a new token expires: `expiresIn` (a duration from now) or `expiresAt` (an instant), at
 * most one of them; undefined (never) when neither is given. Throws ValidationError naming the
 * field when the instant is not in the future or the lifetime is out of range.
 */
export function tokenExpiry(
  opts: { expiresIn?: string; expiresAt?: string | Date },
  now = new Date(),
): Date | undefined {
  if (opts.expiresIn !== undefined && opts.expiresAt !== undefined) {
    throw new ValidationError('give expiresIn or expiresAt, not both');
  }
  let at: Date;
  let field: string;
  if (opts.expiresIn !== undefined) {
    field = 'expiresIn';
    const ms = parseDuration(opts.expiresIn);
    if (ms === undefined) {
      throw new ValidationError('expiresIn must be a duration such as 90d, 12h, 30m or 2w');
    }
    at = new Date(now.getTime() + ms);
  } else if (opts.expiresAt !== undefined) {
    field = 'expiresAt';
    at = opts.expiresAt instanceof Date ? opts.expiresAt : new Date(opts.expiresAt);
    if (Number.isNaN(at.getTime())) throw new ValidationError('expiresAt must be an ISO 8601 timestamp');
  } else {
    return undefined;
  }
  if (at.getTime() <= now.getTime()) throw new ValidationError(`${field} must be in the future`);
  if (at.getTime() - now.getTime() > MAX_TOKEN_LIFETIME_MS) {
    throw new ValidationError(`${field}: a token can live at most 3650 days (leave it out for no expiry)`);
  }
  return at;
}
