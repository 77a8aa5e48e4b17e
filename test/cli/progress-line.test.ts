import { describe, expect, it } from '@jest/globals';
import type { Job } from '../../cli/lib/api-types.js';
import { ProgressLine, progressLine, progressLineText } from '../../cli/lib/progress-line.js';

/** The bar `submit --follow` and `logs --follow` keep under the log lines on a terminal. */
const job = (over: Partial<Job>): Job =>
  ({
    id: '3f0c1a2b-0000-4000-8000-000000000000',
    type: 'csv-import',
    status: 'RUNNING',
    progress: null,
    input: null,
    ...over,
  }) as Job;

const ERASE = '\r\x1b[2K';

describe('progressLineText', () => {
  it('draws a bar from the progress, in bytes through the input file', () => {
    const input = { name: 'orders.csv', size: 12_760, sha256: '0'.repeat(64) };
    expect(progressLineText(job({ progress: { done: 6_380, total: 12_760 }, input }))).toBe(
      `3f0c1a2b running [${'█'.repeat(10)}${'░'.repeat(10)}] 6.2 KB of 12 KB (50%)`,
    );
    expect(progressLineText(job({ progress: { done: 7, total: null } }))).toBe('3f0c1a2b running 7 done');
  });

  it('shows nothing before progress is reported or once the job has ended', () => {
    expect(progressLineText(job({}))).toBeUndefined();
    expect(progressLineText(job({ status: 'COMPLETED', progress: { done: 1, total: 1 } }))).toBeUndefined();
  });

  it('is cut to the terminal width so it never wraps', () => {
    const text = progressLineText(job({ progress: { done: 1, total: 4 } }), 30)!;
    expect(text.length).toBeLessThan(30);
    expect(text.endsWith('…')).toBe(true);
  });
});

describe('ProgressLine', () => {
  function recorder() {
    const writes: string[] = [];
    return { writes, out: { write: (t: string) => void writes.push(t), columns: 100 } };
  }

  it('redraws on progress and prints log lines with the bar erased, then drawn again', () => {
    const { writes, out } = recorder();
    const line = new ProgressLine(out);
    const printed: string[] = [];
    line.interleave(() => printed.push('before any progress'));
    expect(writes).toEqual([]);

    line.update(job({ progress: { done: 1, total: 4 } }));
    const bar = progressLineText(job({ progress: { done: 1, total: 4 } }))!;
    expect(writes).toEqual([`${ERASE}${bar}`]);
    line.update(job({ progress: { done: 1, total: 4 } })); // unchanged: not redrawn
    expect(writes).toHaveLength(1);

    line.interleave(() => {
      writes.push('<log line>');
      printed.push('line');
    });
    expect(writes.slice(1)).toEqual([ERASE, '<log line>', bar]);

    line.update(job({ status: 'COMPLETED', progress: { done: 4, total: 4 } })); // ended: cleared
    expect(writes.at(-1)).toBe(ERASE);
    line.interleave(() => writes.push('<last line>'));
    expect(writes.at(-1)).toBe('<last line>');
    line.stop();
    expect(writes.at(-1)).toBe('<last line>'); // nothing drawn, nothing to clear
    expect(printed).toEqual(['before any progress', 'line']);
  });

  it('draws nothing when disabled (--json) or off a terminal', () => {
    const writes: string[] = [];
    const stream = { isTTY: false, columns: 80, write: (t: string) => writes.push(t) };
    for (const l of [progressLine(false, stream as never), progressLine(true, stream as never)]) {
      l.update(job({ progress: { done: 1, total: 2 } }));
      l.interleave(() => writes.push('line'));
      l.stop();
    }
    expect(writes).toEqual(['line', 'line']);
  });
});
