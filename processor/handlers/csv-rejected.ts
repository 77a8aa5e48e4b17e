import { once } from 'node:events';
import type { Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { stringify, type Stringifier } from 'csv-stringify';
import type { JobOutputs } from '../handler.js';

/** The output csv-import writes its bad rows to. */
export const REJECTED_OUTPUT = 'rejected.csv';

/**
 * csv-import's `rejected.csv`: one record per bad row, `line` (where the row starts in the input),
 * `reasons` (joined with "; ") and then the row's own fields as they were read, under the input's
 * header. RFC 4180: comma-separated, CRLF line ends, a field quoted when it holds a comma, a quote
 * or a line break, quotes doubled. Created at the first bad row: a clean file writes no output.
 *
 * Rows are added from inside the parser, which cannot wait; `room()` is awaited between input
 * chunks instead, so a file of bad rows streams through without piling up in memory.
 */
export class RejectedRows {
  private csv?: Stringifier;
  private out?: Writable;
  private stored?: Promise<void>;
  count = 0;

  constructor(
    private readonly outputs: JobOutputs,
    private readonly header: () => string[],
  ) {}

  add(line: number, reasons: string[], record: string[]): void {
    const csv = (this.csv ??= this.open());
    this.count++;
    csv.write([String(line), reasons.join('; '), ...record]);
  }

  private open(): Stringifier {
    const csv = stringify({ record_delimiter: 'windows', eof: true });
    this.out = this.outputs.create(REJECTED_OUTPUT, { contentType: 'text/csv; charset=utf-8' });
    this.stored = pipeline(csv, this.out);
    // Reported by finish() (or dropped by abort()); never an unhandled rejection meanwhile.
    this.stored.catch(() => {});
    csv.write(['line', 'reasons', ...this.header()]);
    return csv;
  }

  /** Waits while the output is behind (its buffer full); at once when it is not. */
  async room(): Promise<void> {
    const csv = this.csv;
    if (!csv?.writableNeedDrain) return;
    await Promise.race([once(csv, 'drain'), this.stored]);
  }

  /** Ends the file and waits until it is stored and listed on the job (nothing when no row was bad). */
  async finish(): Promise<void> {
    if (!this.csv) return;
    this.csv.end();
    await this.stored;
  }

  /** The import failed in a way that makes the file meaningless (cancelled, stopped): drop it. */
  abort(reason: Error): void {
    this.out?.destroy(reason);
    this.csv?.destroy(reason);
  }
}
