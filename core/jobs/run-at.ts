import { DURATION_HINT, parseDuration } from '../duration.js';
import { ValidationError } from '../errors.js';

/** How far ahead a job may be delayed. */
export const MAX_DELAY_DAYS = 365;
const MAX_DELAY_MS = MAX_DELAY_DAYS * 86_400_000;
/** ISO 8601 with a zone (Z or ±hh:mm): a time without one would mean the server's zone. */
const ISO_WITH_ZONE = /^\d{4}-\d\d-\d\dT\d\d:\d\d(:\d\d(\.\d{1,9})?)?(Z|[+-]\d\d:\d\d)$/;

/**
 * When a submitted job may start: `delay` ("90s", "10m", "2h", "7d") from now, or `runAt` (ISO
 * 8601 with a zone); null when neither is given (at once). A time already past starts the job at
 * once. Throws ValidationError naming the field for anything else (both given, a bad value, more
 * than MAX_DELAY_DAYS ahead).
 */
export function runAtFrom(when: { delay?: string; runAt?: string }, now = Date.now()): Date | null {
  if (when.delay !== undefined && when.runAt !== undefined)
    throw new ValidationError('give delay or runAt, not both');
  let at: number | undefined;
  if (when.delay !== undefined) {
    const ms = parseDuration(when.delay);
    if (ms === null)
      throw new ValidationError(`delay must be ${DURATION_HINT}; got ${JSON.stringify(when.delay)}`);
    at = now + ms;
  } else if (when.runAt !== undefined) {
    const t = ISO_WITH_ZONE.test(when.runAt) ? Date.parse(when.runAt) : NaN;
    if (Number.isNaN(t))
      throw new ValidationError(
        `runAt must be an ISO 8601 time with its zone, e.g. 2026-12-01T09:00:00Z; got ${JSON.stringify(when.runAt)}`,
      );
    at = t;
  }
  if (at === undefined) return null;
  if (at - now > MAX_DELAY_MS)
    throw new ValidationError(`a job can be delayed at most ${MAX_DELAY_DAYS} days ahead`);
  return new Date(at);
}
