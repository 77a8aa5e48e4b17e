import { describe, expect, it } from '@jest/globals';
import { fitColumns, renderTable } from '../../cli/lib/table.js';

describe('renderTable', () => {
  it('fits a terminal width by narrowing the widest columns', () => {
    expect(fitColumns([10, 20], 80)).toBeUndefined();
    expect(fitColumns([10, 100, 30], 80)).toEqual([10, 36, 30]);
    const out = renderTable(['type', 'description'], [['noop', 'x'.repeat(100)]], 40);
    for (const line of out.split('\n')) expect(line.length).toBeLessThanOrEqual(40);
    expect(renderTable(['a'], [['b']], undefined)).toContain('b');
  });
});
