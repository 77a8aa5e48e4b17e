import { describe, expect, it } from '@jest/globals';
import { ValidationError } from '../../../core/errors.js';
import { isTimeZone, parseCron } from '../../../core/schedules/cron.js';

const now = new Date('2026-12-01T10:00:00Z');
const iso = (d: Date | null) => d?.toISOString() ?? null;

/** Cron expressions as croner reads them, and the one-sentence errors of bad ones. */
describe('parseCron', () => {
  it('computes the next and the latest tick (5 fields, or 6 with seconds first)', () => {
    const five = parseCron('*/5 * * * *', 'UTC', now);
    expect(iso(five.nextAfter(now))).toBe('2026-12-01T10:05:00.000Z');
    expect(iso(five.latestAtOrBefore(now))).toBe('2026-12-01T10:00:00.000Z'); // a tick exactly now counts
    expect(iso(five.latestAtOrBefore(new Date('2026-12-01T10:04:59.999Z')))).toBe('2026-12-01T10:00:00.000Z');
    const six = parseCron('*/10 * * * * *', 'UTC', now);
    expect(iso(six.nextAfter(now))).toBe('2026-12-01T10:00:10.000Z');
    expect(iso(six.latestAtOrBefore(new Date('2026-12-01T10:00:25.500Z')))).toBe('2026-12-01T10:00:20.000Z');
  });

  it('reads the expression in its time zone, across daylight saving time', () => {
    const paris = parseCron('0 9 * * *', 'Europe/Paris', now);
    expect(iso(paris.nextAfter(now))).toBe('2026-12-02T08:00:00.000Z'); // winter: UTC+1
    expect(iso(paris.nextAfter(new Date('2026-07-01T00:00:00Z')))).toBe('2026-07-01T07:00:00.000Z'); // summer
  });

  it('refuses bad expressions and unknown time zones with one sentence naming the field', () => {
    const bad = (cron: string, tz = 'UTC') => {
      try {
        parseCron(cron, tz, now);
      } catch (err) {
        expect(err).toBeInstanceOf(ValidationError);
        return (err as Error).message;
      }
      throw new Error(`${cron} was accepted`);
    };
    expect(bad('every minute')).toMatch(
      /^cron: "every minute" is not a valid cron expression \(.+\); use 5 fields/,
    );
    expect(bad('60 * * * *')).toMatch(/^cron: /);
    expect(bad('* * * * * * *')).toMatch(/^cron: /); // 7 fields (years) are not offered
    expect(bad('')).toMatch(/^cron: give a cron expression/);
    expect(bad('* * * * *', 'Europe/Atlantis')).toBe(
      'timezone: "Europe/Atlantis" is not a known IANA time zone (like UTC, Europe/Paris, America/New_York)',
    );
    for (const m of [bad('every minute'), bad('* * * * *', 'x')]) expect(m.split('\n')).toHaveLength(1);
  });

  it('knows the IANA time zones', () => {
    expect(isTimeZone('UTC')).toBe(true);
    expect(isTimeZone('America/New_York')).toBe(true);
    expect(isTimeZone('Not/AZone')).toBe(false);
    expect(isTimeZone('')).toBe(false);
  });
});
