import { describe, expect, it } from '@jest/globals';
import { fitColumns, renderTable, shortId, shortIds, statusText } from '../../cli/lib/table.js';

describe('renderTable', () => {
  it('fits a terminal width by narrowing the widest columns', () => {
    expect(fitColumns([10, 20], 80)).toBeUndefined();
    expect(fitColumns([10, 100, 30], 80)).toEqual([10, 36, 30]);
    const out = renderTable(['type', 'description'], [['noop', 'x'.repeat(100)]], { maxWidth: 40 });
    for (const line of out.split('\n')) expect(line.length).toBeLessThanOrEqual(40);
    expect(renderTable(['a'], [['b']], { maxWidth: undefined })).toContain('b');
  });

  const id = '7f0c1a2b-3c4d-4e5f-8a9b-0c1d2e3f4a5b';
  const jobRow = [
    id,
    'csv-import',
    'COMPLETED',
    '100% (12.5 KB)',
    '2026-11-30 10:41:02',
    '2026-11-30 10:41:03',
  ];
  const head = ['id', 'type', 'status', 'progress', 'created', 'finished'];

  it('never wraps a fixed column (ids), and drops columns before it wraps any', () => {
    for (const maxWidth of [80, 100, 120]) {
      const out = renderTable(head, [jobRow], { maxWidth, fixed: [0], droppable: [5, 3, 4] });
      const lines = out.split('\n');
      for (const line of lines) expect(line.length).toBeLessThanOrEqual(maxWidth);
      // One header line and one row line between the borders: nothing wrapped.
      expect([maxWidth, lines.length]).toEqual([maxWidth, 5]);
      expect(out).toContain(id);
    }
    const wide = renderTable(head, [jobRow], { maxWidth: 200, fixed: [0], droppable: [5, 3, 4] });
    expect(wide).toContain('finished');
    const narrow = renderTable(head, [jobRow], { maxWidth: 80, fixed: [0], droppable: [5, 3, 4] });
    expect(narrow).not.toContain('finished');
  });

  it('wraps text on word boundaries, not inside words', () => {
    const out = renderTable(['type', 'description'], [['noop', 'does nothing at all, for smoke tests']], {
      maxWidth: 30,
    });
    expect(out).toMatch(/does nothing/);
    expect(out).not.toMatch(/smo\s*│?\s*\n.*ke/);
  });
});

describe('statusText and shortId', () => {
  it('colours a status only when asked, and shortens ids to 8 characters', () => {
    expect(statusText('FAILED', false)).toBe('FAILED');
    expect(statusText('FAILED', true)).toBe('\u001b[31mFAILED\u001b[39m');
    expect(statusText('COMPLETED', true)).toBe('\u001b[32mCOMPLETED\u001b[39m');
    expect(statusText('WHATEVER', true)).toBe('WHATEVER');
    expect(shortId('7f0c1a2b-3c4d-4e5f-8a9b-0c1d2e3f4a5b')).toBe('7f0c1a2b');
    // Longer where two of a listing would look the same.
    expect(shortIds(['7f0c1a2b-3c4d-1', '7f0c1a2b-3c4e-2', 'aaaa0000-0000-3'])).toEqual([
      '7f0c1a2b-3c4d',
      '7f0c1a2b-3c4e',
      'aaaa0000-0000',
    ]);
    expect(shortIds(['7f0c1a2b-3c4d-1', 'aaaa0000-0000-3'])).toEqual(['7f0c1a2b', 'aaaa0000']);
  });
});
