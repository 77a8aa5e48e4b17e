import { Cron } from 'croner';
import { ValidationError } from '../errors.js';

/**
 * A cron expression read in a time zone, by croner (a well-kept parser with DST handling; no
 * hand-written cron here). Five fields (minute precision: `*\/5 * * * *`) or six, seconds first
 * (`*\/10 * * * * *`). Day of month and day of week combine with OR, as in Vixie cron.
 */
export interface CronSchedule {
  readonly cron: string;
  readonly timezone: string;
  /** The first tick strictly after `after`; null when the expression never fires again. */
  nextAfter(after: Date): Date | null;
  /** The last tick at or before `at`; null when there is none. */
  latestAtOrBefore(at: Date): Date | null;
}

/** Longest cron expression accepted (the column is text; this keeps error messages readable). */
export const MAX_CRON_LENGTH = 200;

/**
 * Parses `cron` in `timezone` (an IANA name: `Europe/Paris`, `UTC`). Throws ValidationError with
 * one sentence naming the field (`cron` or `timezone`) when either is invalid, or when the
 * expression never fires after `now`.
 *
 * @example
 * parseCron('0 9 * * 1-5', 'Europe/Paris').nextAfter(new Date()) // next weekday 09:00 in Paris
 */
export function parseCron(cron: string, timezone: string, now = new Date()): CronSchedule {
  const expr = cron.trim();
  if (!isTimeZone(timezone)) {
    throw new ValidationError(
      `timezone: "${timezone}" is not a known IANA time zone (like UTC, Europe/Paris, America/New_York)`,
      { field: 'timezone' },
    );
  }
  if (expr.length === 0 || expr.length > MAX_CRON_LENGTH) {
    throw new ValidationError(`cron: give a cron expression of 1 to ${MAX_CRON_LENGTH} characters`, {
      field: 'cron',
    });
  }
  let job: Cron;
  try {
    // paused, and no function: croner only computes dates, it never schedules anything here.
    job = new Cron(expr, { timezone, paused: true, mode: '5-or-6-parts' });
  } catch (err) {
    throw new ValidationError(
      `cron: "${expr}" is not a valid cron expression (${reason(err)}); use 5 fields (minute hour day-of-month month day-of-week) or 6 with seconds first`,
      { field: 'cron' },
    );
  }
  const schedule: CronSchedule = {
    cron: expr,
    timezone,
    nextAfter: (after) => job.nextRun(after),
    latestAtOrBefore: (at) => {
      // previousRuns counts a run earlier in the same second as the reference: one ms past `at`
      // makes a tick exactly at `at` count too.
      const [latest] = job.previousRuns(1, new Date(at.getTime() + 1));
      return latest && latest.getTime() <= at.getTime() ? latest : null;
    },
  };
  if (schedule.nextAfter(now) === null) {
    throw new ValidationError(`cron: "${expr}" never fires again`, { field: 'cron' });
  }
  return schedule;
}

/** Whether the runtime knows `tz` as a time zone (Intl's own list: the one croner uses). */
export function isTimeZone(tz: string): boolean {
  if (tz.length === 0 || tz.length > 100) return false;
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: tz });
    return true;
  } catch {
    return false;
  }
}

function reason(err: unknown): string {
  const text = err instanceof Error ? err.message : String(err);
  // croner's messages start with its class name ("CronPattern: invalid …").
  return text.replace(/^Cron\w*:\s*/, '').replace(/[.\s]+$/, '');
}
