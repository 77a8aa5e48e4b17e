import { describe, expect, it } from '@jest/globals';
import type { Job } from '../../cli/lib/api-types.js';
import { formatProgress, jobSummary } from '../../cli/lib/format.js';

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
