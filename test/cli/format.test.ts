import { describe, expect, it } from '@jest/globals';
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import type { Job } from '../../cli/lib/api-types.js';
import { formatJobDetails, formatProgress, formatTime, jobSummary } from '../../cli/lib/format.js';
import { ROOT } from './helpers/run-cli.js';

/** How `--wait`, `list` and `get` say a job's progress and result to a person. */
describe('progress and results in words', () => {
  const input = { name: 'orders.csv', size: 12_760, sha256: '0'.repeat(64) };

  it('shows progress through the input file in bytes, other progress as counts', () => {
    expect(formatProgress({ done: 6_380, total: 12_760 }, input)).toBe('6.2 KB of 12 KB (50%)');
    expect(formatProgress({ done: 5, total: 10 }, input)).toBe('5/10 (50%)');
    expect(formatProgress({ done: 5, total: 10 })).toBe('5/10 (50%)');
    expect(formatProgress({ done: 7, total: null })).toBe('7');
    expect(formatProgress(null)).toBe('-');
  });

  it('says a counted result as rows, valid and invalid; anything else as JSON', () => {
    const done = {
      id: 'j1',
      status: 'COMPLETED',
      startedAt: '2026-12-01T10:00:00.000Z',
      finishedAt: '2026-12-01T10:00:00.031Z',
      error: null,
    } as Job;
    expect(jobSummary({ ...done, result: { rows: 200, valid: 198, invalid: 2, columns: ['a'] } })).toBe(
      'Job j1 completed in 31ms: 200 rows, 198 valid, 2 invalid',
    );
    expect(jobSummary({ ...done, result: { greeted: 2 } })).toBe('Job j1 completed in 31ms: {"greeted":2}');
  });
});

/**
 * One way to print a time in get, list and logs: local with its offset, or --utc. Run in a child
 * process per zone (the built module, as the CLI runs it): TZ is read by Node's own process only.
 */
describe('times', () => {
  const formatJs = pathToFileURL(path.join(ROOT, 'dist', 'cli', 'lib', 'format.js')).href;
  /** `expr` evaluated with format.js's exports in scope, in zone `tz`; its JSON result. */
  function inZone(tz: string, expr: string): unknown {
    const code = `const f = await import(${JSON.stringify(formatJs)}); console.log(JSON.stringify((${expr})(f)));`;
    const out = execFileSync(process.execPath, ['--input-type=module', '-e', code], {
      env: { ...process.env, TZ: tz },
      encoding: 'utf8',
    });
    return JSON.parse(out);
  }

  it('prints local time with its UTC offset, or UTC with utc', () => {
    // +01:00 in December, +02:00 in summer; -03:30 (minutes, the day before); +05:30.
    expect(
      inZone(
        'Europe/Paris',
        `(f) => [f.formatTime('2026-12-01T08:00:00.000Z'), f.formatTime('2026-07-01T08:00:00.000Z'), f.formatTime('2026-12-01T08:00:00.000Z', { utc: true })]`,
      ),
    ).toEqual(['2026-12-01 09:00:00 +01:00', '2026-07-01 10:00:00 +02:00', '2026-12-01 08:00:00 +00:00']);
    expect(inZone('America/St_Johns', `(f) => f.formatTime('2026-12-01T02:00:00.000Z')`)).toBe(
      '2026-11-30 22:30:00 -03:30',
    );
    expect(inZone('Asia/Kolkata', `(f) => f.formatTime('2026-12-01T08:00:00.123Z', { ms: true })`)).toBe(
      '2026-12-01 13:30:00.123 +05:30',
    );
  });

  it('prints - for no time and an unparsable one as it came', () => {
    expect(formatTime(null)).toBe('-');
    expect(formatTime(undefined)).toBe('-');
    expect(formatTime('soon')).toBe('soon');
  });

  it('uses the same format in log lines and job details', () => {
    const line = { seq: 1, ts: '2026-12-01T08:00:00.042Z', level: 'warn', message: 'hi', data: null };
    expect(
      inZone(
        'Europe/Paris',
        `(f) => [f.formatLogLine(${JSON.stringify(line)}), f.formatLogLine(${JSON.stringify(line)}, { utc: true })]`,
      ),
    ).toEqual(['2026-12-01 09:00:00.042 +01:00 WARN hi', '2026-12-01 08:00:00.042 +00:00 WARN hi']);
    const job = {
      id: 'j1',
      type: 'noop',
      status: 'COMPLETED',
      params: {},
      input: null,
      progress: null,
      attempts: 1,
      maxAttempts: 3,
      ownerId: 'u',
      createdAt: '2026-12-01T08:00:00.000Z',
      startedAt: '2026-12-01T08:00:01.000Z',
      finishedAt: '2026-12-01T08:00:02.000Z',
      updatedAt: '2026-12-01T08:00:02.000Z',
    } as unknown as Job;
    const [local, utc] = inZone(
      'Europe/Paris',
      `(f) => [f.formatJobDetails(${JSON.stringify(job)}), f.formatJobDetails(${JSON.stringify(job)}, { utc: true })]`,
    ) as string[];
    expect(local).toMatch(/^created: +2026-12-01 09:00:00 \+01:00$/m);
    expect(local).toMatch(/^finished: +2026-12-01 09:00:02 \+01:00$/m);
    expect(utc).toMatch(/^started: +2026-12-01 08:00:01 \+00:00$/m);
    expect(formatJobDetails(job, { utc: true })).toBe(utc);
  });
});
