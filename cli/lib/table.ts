import Table from 'cli-table3';

/**
 * Column widths (cli-table3's, padding included) that fit `maxWidth`: the widest columns give
 * way first, none below `min`. Undefined when the table already fits.
 */
export function fitColumns(natural: number[], maxWidth: number, min = 12): number[] | undefined {
  const borders = natural.length + 1;
  const widths = [...natural];
  const total = () => widths.reduce((a, b) => a + b, 0) + borders;
  if (total() <= maxWidth) return undefined;
  while (total() > maxWidth) {
    const widest = widths.indexOf(Math.max(...widths));
    if (widths[widest] <= min) break;
    widths[widest] = Math.max(min, widths[widest] - (total() - maxWidth));
  }
  return widths;
}

/**
 * A plain cli-table3 table: no colours (output is often piped), cells already strings. On a
 * terminal, long columns wrap to its width.
 *
 * @example
 * renderTable(['id', 'status'], [['1f…', 'RUNNING']])
 */
export function renderTable(
  head: string[],
  rows: string[][],
  maxWidth = process.stdout.isTTY ? process.stdout.columns : undefined,
): string {
  const natural = head.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)) + 2);
  const colWidths = maxWidth ? fitColumns(natural, maxWidth) : undefined;
  const table = new Table({
    head,
    style: { head: [], border: [] },
    ...(colWidths ? { colWidths, wordWrap: true, wrapOnWordBoundary: false } : {}),
  });
  table.push(...rows);
  return table.toString();
}
