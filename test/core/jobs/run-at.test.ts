import { describe, expect, it } from '@jest/globals';
import { runAtFrom } from '../../../core/jobs/run-at.js';

describe('runAtFrom', () => {
  const now = Date.parse('2026-12-01T10:00:00Z');

  it('reads a delay from now, or a time with its zone; none is null', () => {
    expect(runAtFrom({}, now)).toBeNull();
    expect(runAtFrom({ delay: '90s' }, now)?.toISOString()).toBe('2026-12-01T10:01:30.000Z');
    expect(runAtFrom({ delay: '2h' }, now)?.toISOString()).toBe('2026-12-01T12:00:00.000Z');
    expect(runAtFrom({ runAt: '2026-12-01T09:00:00+01:00' }, now)?.toISOString()).toBe(
      '2026-12-01T08:00:00.000Z',
    );
    // A time already past: the job starts at once (its runAt says when it was meant to).
    expect(runAtFrom({ runAt: '2026-11-30T00:00:00Z' }, now)?.toISOString()).toBe('2026-11-30T00:00:00.000Z');
  });

  it('refuses both at once, bad values, a time without a zone and more than 365 days ahead', () => {
    expect(() => runAtFrom({ delay: '1m', runAt: '2026-12-01T10:00:00Z' }, now)).toThrow(
      'give delay or runAt, not both',
    );
    expect(() => runAtFrom({ delay: '10 minutes' }, now)).toThrow(/^delay must be a whole number and a unit/);
    expect(() => runAtFrom({ runAt: '2026-12-01T10:00:00' }, now)).toThrow(
      /^runAt must be an ISO 8601 time with its zone/,
    );
    expect(() => runAtFrom({ runAt: 'tomorrow' }, now)).toThrow(/^runAt must be/);
    expect(() => runAtFrom({ runAt: '2026-13-45T10:00:00Z' }, now)).toThrow(/^runAt must be/);
    expect(() => runAtFrom({ delay: '366d' }, now)).toThrow('a job can be delayed at most 365 days ahead');
    expect(() => runAtFrom({ runAt: '2028-01-01T00:00:00Z' }, now)).toThrow(/at most 365 days/);
  });
});
