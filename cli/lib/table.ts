import Table from 'cli-table3';

/**
 * Column widths (cli-table3's, padding included) that fit `maxWidth`: the widest columns give
 * way first, none below `min`, and never a `fixed` column (ids: a wrapped id cannot be copied).
 * Undefined when the table already fits.
 */
export function fitColumns(
  natural: number[],
  maxWidth: number,
  min = 12,
  fixed: ReadonlySet<number> = new Set(),
): number[] | undefined {
  const borders = natural.length + 1;
  const widths = [...natural];
  const total = () => widths.reduce((a, b) => a + b, 0) + borders;
  if (total() <= maxWidth) return undefined;
  while (total() > maxWidth) {
    const candidates = widths.map((w, i) => (fixed.has(i) ? -1 : w));
    const widest = candidates.indexOf(Math.max(...candidates));
    if (widest === -1 || widths[widest] <= min) break;
    widths[widest] = Math.max(min, widths[widest] - (total() - maxWidth));
  }
  return widths;
}

export interface TableOptions {
  /** The terminal's width (default: stdout's when it is a terminal; none when piped). */
  maxWidth?: number;
  /** Columns that never wrap (ids). */
  fixed?: number[];
  /** Columns dropped, in this order, while the table is wider than `maxWidth` (before any wraps). */
  droppable?: number[];
}

/**
 * A cli-table3 table, cells already strings (colour codes are fine: widths ignore them). On a
 * terminal it fits the width: first by dropping `droppable` columns, then by wrapping the widest
 * of the rest on word boundaries; `fixed` columns never wrap.
 *
 * @example
 * renderTable(['id', 'status'], [['1f0c2a4b', 'RUNNING']], { fixed: [0] })
 */
export function renderTable(head: string[], rows: string[][], opts: TableOptions = {}): string {
  const maxWidth =
    'maxWidth' in opts ? opts.maxWidth : process.stdout.isTTY ? process.stdout.columns : undefined;
  let keep = head.map((_, i) => i);
  const naturalOf = (cols: number[]) =>
    cols.map((c) => Math.max(head[c]!.length, ...rows.map((r) => visibleLength(r[c] ?? ''))) + 2);
  const width = (cols: number[]) => naturalOf(cols).reduce((a, b) => a + b, 0) + cols.length + 1;
  for (const drop of opts.droppable ?? []) {
    if (!maxWidth || width(keep) <= maxWidth) break;
    keep = keep.filter((c) => c !== drop);
  }
  const fixed = new Set(keep.flatMap((c, i) => (opts.fixed?.includes(c) ? [i] : [])));
  const colWidths = maxWidth ? fitColumns(naturalOf(keep), maxWidth, 12, fixed) : undefined;
  const table = new Table({
    head: keep.map((c) => head[c]!),
    style: { head: [], border: [] },
    ...(colWidths ? { colWidths, wordWrap: true, wrapOnWordBoundary: true } : {}),
  });
  table.push(...rows.map((r) => keep.map((c) => r[c] ?? '')));
  return table.toString();
}

function visibleLength(s: string): number {
  // eslint-disable-next-line no-control-regex
  return s.replace(/\u001b\[[0-9;]*m/g, '').length;
}

/** Whether stdout takes colours: a terminal, and neither NO_COLOR nor TERM=dumb. */
export function colours(): boolean {
  return process.stdout.isTTY === true && !process.env.NO_COLOR && process.env.TERM !== 'dumb';
}

/** SGR foreground colours: yellow, cyan, green, red, grey. */
const STATUS_COLOURS: Record<string, number> = {
  PENDING: 33,
  RUNNING: 36,
  COMPLETED: 32,
  FAILED: 31,
  CANCELLED: 90,
};

/** A job status, coloured when stdout takes colours. */
export function statusText(status: string, coloured = colours()): string {
  const colour = STATUS_COLOURS[status];
  return coloured && colour ? `\u001b[${colour}m${status}\u001b[39m` : status;
}

/**
 * The ids of one listing, shortened like `shortId` but longer where two would look the same (as
 * git abbreviates hashes): what is shown always names one job of the page.
 */
export function shortIds(ids: readonly string[], min = 8): string[] {
  let n = min;
  while (n < 36 && new Set(ids.map((id) => id.slice(0, n))).size < new Set(ids).size) n++;
  return ids.map((id) => id.slice(0, n));
}

/** One id as a listing of it alone shows it: its first 8 characters. */
export function shortId(id: string): string {
  return shortIds([id])[0]!;
}
