import { isUtf8 } from 'node:buffer';
import type { Readable, TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { CsvError, Parser, type Options as CsvParseOptions } from 'csv-parse';
import { z } from 'zod';
import { prependInPlace, readChunks } from '../../core/blobs/read-chunks.js';
import { JobFailure, type JobContext, type JobHandler, type JobLogger, type JobOutputs } from '../handler.js';
import { columnType, quoteValue, valueChecks, type ValueCheck } from './csv-validate.js';
import { RejectedRows, REJECTED_OUTPUT } from './csv-rejected.js';

/**
 * Names that object keys cannot safely carry: a parsed `{"__proto__": "integer"}` would lose the
 * entry (zod's record skips it), `constructor` and `prototype` shadow what JavaScript code
 * expects. Refused by name rather than dropped in silence.
 */
const RESERVED_KEYS = new Set(['__proto__', 'constructor', 'prototype']);

/** `types`: column name → type, refusing the reserved names with an issue at `types.<name>`. */
function columnTypes() {
  return z.preprocess(
    (value, ctx) => {
      if (value && typeof value === 'object' && !Array.isArray(value)) {
        for (const key of Object.keys(value).filter((k) => RESERVED_KEYS.has(k))) {
          ctx.addIssue({
            code: 'custom',
            path: [key],
            input: value,
            message: `"${key}" cannot be a column name in types (reserved: ${[...RESERVED_KEYS].join(', ')})`,
          });
        }
      }
      return value;
    },
    z.record(z.string(), columnType),
  );
}

/** Bad rows logged one by one; past this they are only counted. */
export const MAX_LOGGED_BAD_ROWS = 100;
/** Column names listed in the result (and a failure's data); past this they are only counted. */
export const MAX_RESULT_COLUMNS = 1000;
/**
 * Items listed in one message (a bad row's reasons, duplicate or missing header names); past this
 * "and N more". A row of 20,000 bad typed values is one short line, not a megabyte.
 */
export const MAX_LISTED = 10;
/** A column name quoted in a message is cut to this many characters. */
const MAX_NAME_CHARS = 100;
const PROGRESS_EVERY_BYTES = 64 * 1024;
/**
 * csv-parse buffers a record until it ends; without a cap, one unclosed quote near the top of a
 * 1 GiB file would buffer the rest of the file. No sane CSV record is this long; a file that has
 * such records raises it with the `maxRecordBytes` param, up to MAX_RECORD_BYTES_LIMIT (a record
 * is held in memory whole, so the cap is also what one job may buffer).
 */
export const DEFAULT_MAX_RECORD_BYTES = 8 * 1024 * 1024;
export const MAX_RECORD_BYTES_LIMIT = 256 * 1024 * 1024;
/** Delimiters a file read with the wrong one probably has (see `probableDelimiter`). */
const COMMON_DELIMITERS = [',', ';', '\t', '|'];

export const csvImportParams = z.strictObject({
  delimiter: z
    .string()
    .length(1, 'delimiter must be exactly 1 character')
    .refine((d) => d !== '"' && d !== '\r' && d !== '\n', 'delimiter cannot be a quote or a line break')
    .default(','),
  required: z.array(z.string()).default(() => []),
  types: columnTypes().default(() => ({})),
  maxErrors: z.int().min(0).default(0),
  maxRecordBytes: z
    .int()
    .min(1024, 'maxRecordBytes must be at least 1024')
    .max(MAX_RECORD_BYTES_LIMIT, `maxRecordBytes can be at most ${MAX_RECORD_BYTES_LIMIT} (256 MiB)`)
    .default(DEFAULT_MAX_RECORD_BYTES),
});
export type CsvImportParams = z.output<typeof csvImportParams>;

export interface CsvImportResult {
  /** Data rows, the header not included. */
  rows: number;
  valid: number;
  invalid: number;
  /** The header's column names: the first MAX_RESULT_COLUMNS of them. */
  columns: string[];
  /** How many columns the header has, when `columns` does not list them all. */
  columnCount?: number;
}

/**
 * Streams a CSV through csv-parse and checks every row against the header and `params`. The
 * whole file is read even when rows are bad, so the owner sees every problem in one run: the
 * first MAX_LOGGED_BAD_ROWS in the log, and every one in the job's output `rejected.csv` (the
 * row as read, its line number and the reasons: csv-rejected.ts).
 *
 * @example
 * jobs submit orders.csv --type csv-import --param required='["order_id"]' \
 *   --param types='{"order_id":"integer","ordered_at":"date"}' --param maxErrors=10
 */
export const csvImport: JobHandler<CsvImportParams> = {
  type: 'csv-import',
  description:
    'Streams a CSV file (RFC 4180) and validates it: required columns, value types per column; ' +
    'fails when bad rows exceed maxErrors.',
  params: csvImportParams,
  input: 'required',
  async run(ctx: JobContext<CsvImportParams>): Promise<CsvImportResult> {
    const { input, signal, params } = ctx;
    if (!input) throw new JobFailure('csv-import needs an input file');
    signal.throwIfAborted();
    const checker = new RowChecker(params, ctx.log, ctx.outputs);
    try {
      return await importCsv(ctx, input, checker);
    } catch (err) {
      // Every failure carries the counts so far (the README's promise): rows, valid, invalid and
      // the header's columns, plus what the failure itself adds (a header's missing columns).
      if (err instanceof JobFailure) {
        const extra = err.data && typeof err.data === 'object' ? err.data : {};
        throw new JobFailure(err.message, { ...checker.result(), ...extra });
      }
      throw err;
    }
  },
};

async function importCsv(
  ctx: JobContext<CsvImportParams>,
  input: Readable,
  checker: RowChecker,
): Promise<CsvImportResult> {
  const { inputInfo, signal, params } = ctx;
  const name = inputInfo?.name ?? 'input';
  const size = inputInfo?.size ?? null;
  ctx.log.info(`importing ${name} (${size ?? 'unknown'} bytes)`);
  const parser = new LineNumberedParser(
    {
      bom: true, // a UTF-8 BOM is not part of the header's first name
      delimiter: params.delimiter,
      relax_column_count: true,
      skip_empty_lines: true,
      max_record_size: params.maxRecordBytes,
    },
    (record, line) => checker.check(record, line),
  );
  const { rejected } = checker;
  try {
    await pipeline(
      readChunks(input),
      (source: AsyncIterable<Buffer>) => checkUtf8(source, (bytes) => ctx.progress(bytes, size)),
      // Bad rows are written from inside the parser: the next chunk waits while rejected.csv is behind.
      async function* (source: AsyncIterable<Buffer>) {
        for await (const chunk of source) {
          yield chunk;
          await rejected.room();
        }
      },
      parser,
      drain,
      { signal },
    );
  } catch (err) {
    if (signal.aborted) {
      rejected.abort(signal.reason as Error);
      throw signal.reason;
    }
    // A malformed file still gets the bad rows found before the point where it broke.
    if (err instanceof JobFailure || err instanceof CsvError) await finishRejected(ctx, rejected);
    else rejected.abort(err as Error);
    if (err instanceof CsvError) {
      const emptyLines = typeof err.empty_lines === 'number' ? err.empty_lines : undefined;
      const line = parser.startLineOfNextRecord(emptyLines);
      const hint =
        err.code === 'CSV_MAX_RECORD_SIZE'
          ? ` (an unclosed quote? a record may hold ${params.maxRecordBytes} bytes: the maxRecordBytes param)`
          : '';
      throw new JobFailure(`malformed CSV at line ${line}${hint}: ${err.message}`);
    }
    throw err;
  }

  await finishRejected(ctx, rejected);
  if (!checker.sawHeader) throw new JobFailure('input is empty: there is no header line');
  const result = checker.result();
  ctx.log.info(
    `checked ${name}: ${result.rows} rows, ${result.valid} valid, ${result.invalid} invalid`,
    result,
  );
  const wrongDelimiter = checker.delimiterHint();
  if (result.invalid > params.maxErrors) {
    throw new JobFailure(
      `${result.invalid} bad ${result.invalid === 1 ? 'row exceeds' : 'rows exceed'} maxErrors=${params.maxErrors}` +
        (wrongDelimiter ? `; ${wrongDelimiter}` : ''),
    );
  }
  if (wrongDelimiter) ctx.log.warn(`the header has one column: ${wrongDelimiter}`);
  return result;
}

/** Ends rejected.csv (when a row was bad) and says in the log where it is. */
async function finishRejected(ctx: JobContext<CsvImportParams>, rejected: RejectedRows): Promise<void> {
  if (rejected.count === 0) return;
  await rejected.finish();
  ctx.log.info(
    `${rejected.count} bad ${rejected.count === 1 ? 'row is' : 'rows are'} in the output ${REJECTED_OUTPUT} ` +
      `(with line numbers and reasons): jobs download ${ctx.jobId} ${REJECTED_OUTPUT}`,
    { output: REJECTED_OUTPUT, rows: rejected.count },
  );
}

/** The parser has nothing to pass on (records are checked as they are parsed); this ends the pipeline. */
async function drain(source: AsyncIterable<unknown>): Promise<void> {
  for await (const _ of source) {
    // nothing is ever pushed
  }
}

interface TypedColumn {
  index: number;
  name: string;
  check: ValueCheck;
}

/** Checks the header once, then every row; counts and logs the bad ones. */
class RowChecker {
  sawHeader = false;
  private columns: string[] = [];
  private rows = 0;
  private invalid = 0;
  private requiredColumns: { index: number; name: string }[] = [];
  private typedColumns: TypedColumn[] = [];
  /** Every bad row, for the job's rejected.csv. */
  readonly rejected: RejectedRows;

  constructor(
    private readonly params: CsvImportParams,
    private readonly log: JobLogger,
    outputs: JobOutputs,
  ) {
    this.rejected = new RejectedRows(outputs, () => this.columns);
  }

  /**
   * When the header came out as one column that another common delimiter would split: a sentence
   * naming that delimiter and how to pass it (the file was read with the wrong one, most likely).
   */
  delimiterHint(header: string[] = this.columns): string | undefined {
    const found = header.length === 1 ? probableDelimiter(header[0]!, this.params.delimiter) : undefined;
    if (found === undefined) return undefined;
    const shown = found === '\t' ? 'tabs' : JSON.stringify(found);
    const flag = found === '\t' ? "--param delimiter=$'\\t'" : `--param delimiter='${found}'`;
    return `the file looks delimited by ${shown}, not ${JSON.stringify(this.params.delimiter)}: submit it with ${flag}`;
  }

  result(): CsvImportResult {
    return {
      rows: this.rows,
      valid: this.rows - this.invalid,
      invalid: this.invalid,
      ...listedColumns(this.columns),
    };
  }

  check(record: string[], line: number): void {
    if (!this.sawHeader) return this.header(record, line);
    this.rows++;
    const width = this.columns.length;
    if (record.length !== width) {
      // The columns no longer line up, so checking values would only add noise.
      return this.bad(line, record, [`expected ${width} fields, got ${record.length}`]);
    }
    // Reasons past MAX_LISTED are counted, not described.
    let errors: string[] | undefined;
    let count = 0;
    for (const { index, name } of this.requiredColumns) {
      if (record[index] === '' && ++count <= MAX_LISTED) {
        (errors ??= []).push(`${shortName(name)} is required`);
      }
    }
    for (const { index, name, check } of this.typedColumns) {
      const value = record[index]!;
      // Empty is allowed for any type; `required` is what rules it out.
      if (value !== '' && !check.test(value) && ++count <= MAX_LISTED) {
        (errors ??= []).push(`${shortName(name)}: ${quoteValue(value)} is not ${check.expected}`);
      }
    }
    if (count > 0) this.bad(line, record, errors ?? [], count);
  }

  /** `errors`: the first MAX_LISTED reasons of `count`. */
  private bad(line: number, record: string[], errors: string[], count = errors.length): void {
    this.invalid++;
    const more = count - errors.length;
    this.rejected.add(line, more > 0 ? [...errors, `and ${more} more`] : errors, record);
    if (this.invalid <= MAX_LOGGED_BAD_ROWS) {
      this.log.warn(
        `line ${line}: ${errors.join('; ')}${more > 0 ? `; and ${more} more` : ''}`,
        more > 0 ? { line, errors, errorCount: count } : { line, errors },
      );
    } else if (this.invalid === MAX_LOGGED_BAD_ROWS + 1) {
      this.log.warn(
        `more than ${MAX_LOGGED_BAD_ROWS} bad rows: further bad rows are not logged, only counted`,
      );
    }
  }

  private header(record: string[], line: number): void {
    this.sawHeader = true;
    // An empty name is allowed once (exports of a data frame's index often have one); a header
    // that is nothing but empty names is not a header.
    if (record.every((name) => name === '')) {
      throw new JobFailure(`the header (line ${line}) is empty`);
    }
    const firstIndex = new Map<string, number>();
    const duplicates: string[] = [];
    let duplicateCount = 0;
    record.forEach((name, i) => {
      const first = firstIndex.get(name);
      if (first === undefined) firstIndex.set(name, i);
      else if (++duplicateCount <= MAX_LISTED)
        duplicates.push(`${JSON.stringify(shortName(name))} (columns ${first + 1} and ${i + 1})`);
    });
    if (duplicateCount > 0) {
      throw new JobFailure(
        `duplicate column names in the header: ${andMore(duplicates, duplicateCount)}`,
        listedColumns(record),
      );
    }
    // A `types` entry for a column the header lacks fails too: it is almost always a typo or the
    // wrong file, and passing would claim a check that never ran.
    const missing = [
      ...this.params.required.filter((c) => !firstIndex.has(c)).map((c) => `${c} (required)`),
      ...Object.keys(this.params.types)
        .filter((c) => !firstIndex.has(c))
        .map((c) => `${c} (types)`),
    ];
    if (missing.length > 0) {
      const listed = missing.slice(0, MAX_LISTED).map(shortName);
      const wrongDelimiter = this.delimiterHint(record);
      throw new JobFailure(
        `the header lacks column${missing.length > 1 ? 's' : ''} ${andMore(listed, missing.length)}; ` +
          `it has ${listColumns(record)}${wrongDelimiter ? `; ${wrongDelimiter}` : ''}`,
        {
          ...listedColumns(record),
          missing: missing.slice(0, MAX_RESULT_COLUMNS),
          ...(missing.length > MAX_RESULT_COLUMNS ? { missingCount: missing.length } : {}),
        },
      );
    }
    this.columns = record;
    this.requiredColumns = [...new Set(this.params.required)].map((name) => ({
      index: firstIndex.get(name)!,
      name,
    }));
    for (const [name, type] of Object.entries(this.params.types)) {
      const check = valueChecks[type];
      if (check) this.typedColumns.push({ index: firstIndex.get(name)!, name, check });
    }
  }
}

/**
 * The common delimiter (other than `chosen`) that splits a one-column header into the most names,
 * if any splits it into two or more non-empty ones.
 */
export function probableDelimiter(header: string, chosen: string): string | undefined {
  let best: { delimiter: string; names: number } | undefined;
  for (const delimiter of COMMON_DELIMITERS) {
    if (delimiter === chosen) continue;
    const names = header.split(delimiter);
    if (names.length < 2 || names.some((n) => n.trim() === '')) continue;
    if (!best || names.length > best.names) best = { delimiter, names: names.length };
  }
  return best?.delimiter;
}

function listColumns(names: string[]): string {
  const shown = names.slice(0, 20).map((name) => JSON.stringify(shortName(name)));
  return names.length > shown.length ? `${shown.join(', ')}, … (${names.length} in all)` : shown.join(', ');
}

/** The header's names for a result: the first MAX_RESULT_COLUMNS, and the count if there are more. */
function listedColumns(names: string[]): Pick<CsvImportResult, 'columns' | 'columnCount'> {
  return names.length > MAX_RESULT_COLUMNS
    ? { columns: names.slice(0, MAX_RESULT_COLUMNS), columnCount: names.length }
    : { columns: names };
}

/** "a, b, c" or "a, b, c and 7 more" (`listed` being the first of `count`). */
function andMore(listed: string[], count: number): string {
  return count > listed.length ? `${listed.join(', ')} and ${count - listed.length} more` : listed.join(', ');
}

function shortName(name: string): string {
  return name.length > MAX_NAME_CHARS ? `${name.slice(0, MAX_NAME_CHARS)}…` : name;
}

type RecordSink = (record: string[], line: number) => void;

/**
 * csv-parse's Parser that hands each record to `sink` with the physical line it starts on,
 * instead of queueing it for a reader.
 *
 * csv-parse pushes a record synchronously the moment it completes it, so `this.info` at push time
 * is that record's own state: the same numbers `info: true` would give, without the per-record
 * snapshot object that halves throughput. `info.lines` is the line a record ends on; the start is
 * one past the previous record's end plus the empty lines skipped in between.
 */
class LineNumberedParser extends Parser {
  private prevEnd = 0;
  private prevEmpty = 0;
  /** Lines csv-parse counted twice: it counts the CR and the LF of a CRLF inside a quoted field. */
  private overcount = 0;
  private failed = false;

  constructor(
    options: CsvParseOptions,
    private readonly sink: RecordSink,
  ) {
    super(options);
  }

  /** Where the record being parsed now starts, given csv-parse's count of empty lines so far. */
  startLineOfNextRecord(emptyLines = this.info.empty_lines): number {
    return this.prevEnd + 1 + (emptyLines - this.prevEmpty);
  }

  /** Whether records end at LF (auto-detected from the first line ending). */
  private splitsOnLf(): boolean {
    const delimiters = this.options.record_delimiter;
    return delimiters.length === 1 && delimiters[0]!.length === 1 && delimiters[0]![0] === 0x0a;
  }

  /**
   * csv-parse keeps the few bytes at the end of a chunk that it cannot parse yet (where a
   * delimiter might continue) and, with the next chunk, copies both into a new buffer
   * (`Buffer.concat`): a copy of the whole input, 256 KiB of garbage per chunk. A chunk read into
   * readChunks' own buffers has room in front of it: the kept bytes go there and csv-parse starts
   * from them, as it would from its copy. `state.previousBuf` is csv-parse's own (untyped) state;
   * were it renamed, nothing is prepended and csv-parse copies as before (the test on
   * `Buffer.concat` in csv-import.test.ts then fails).
   */
  override _transform(chunk: Buffer, encoding: BufferEncoding, done: TransformCallback): void {
    const state = (this as unknown as { state?: { previousBuf?: Buffer } }).state;
    const kept = state?.previousBuf;
    const joined = kept === undefined ? undefined : prependInPlace(kept, chunk);
    if (joined) state!.previousBuf = undefined;
    super._transform(joined ?? chunk, encoding, done);
  }

  override push(record: unknown, encoding?: BufferEncoding): boolean {
    if (record === null) return super.push(null, encoding);
    if (this.failed) return true;
    const { lines, empty_lines } = this.info;
    const start = this.startLineOfNextRecord(empty_lines);
    let end = lines - this.overcount;
    if (end > start) {
      const extra = countCrLf(record as string[], this.splitsOnLf());
      this.overcount += extra;
      end -= extra;
    }
    this.prevEnd = end;
    this.prevEmpty = empty_lines;
    try {
      this.sink(record as string[], start);
    } catch (err) {
      // Called from inside csv-parse's parse loop, so a throw here would escape the stream.
      this.failed = true;
      this.destroy(err as Error);
    }
    return true;
  }
}

function countCrLf(record: string[], splitsOnLf: boolean): number {
  let count = 0;
  for (const field of record) {
    for (let i = field.indexOf('\r\n'); i !== -1; i = field.indexOf('\r\n', i + 2)) count++;
  }
  // Mixed line endings (the first line ended in LF, this one in CRLF): the CR stays in the last
  // field, its LF ends the record, and csv-parse counts the pair as two lines here too.
  if (splitsOnLf && record.length > 0 && record[record.length - 1]!.endsWith('\r')) count++;
  return count;
}

/**
 * Passes the input's bytes on unchanged, failing on the first byte that is not UTF-8 text. NUL is
 * refused too: it is valid UTF-8 but no text file has it, while nearly every binary does.
 *
 * The bytes are checked in place (`isUtf8`, simdutf) rather than decoded: csv-parse works on bytes
 * and decodes each field itself, so a decoded copy of every chunk (and csv-parse's re-encoding of
 * it) was a second and third copy of the whole file passing through the heap for nothing. The
 * chunks may be readChunks' reused buffers: the few bytes of a character split between two are
 * copied, never kept as a view.
 */
async function* checkUtf8(
  source: AsyncIterable<Buffer>,
  onBytes: (bytesRead: number) => void,
): AsyncGenerator<Buffer> {
  let offset = 0;
  let reported = 0;
  // The bytes, from earlier chunks, of a character not complete yet (at most 3).
  let held: Uint8Array = new Uint8Array(0);
  for await (const chunk of source) {
    if (offset === 0 && isUtf16Bom(chunk)) {
      throw new JobFailure('input is UTF-16 text; save it as UTF-8 and submit it again');
    }
    const nul = chunk.indexOf(0);
    if (nul !== -1) throw new JobFailure(`input contains binary data (NUL byte at byte ${offset + nul})`);
    let from = 0;
    if (held.length > 0) {
      // The character split by the chunk boundary is checked on its own, so the chunk is not copied.
      const missing = sequenceLength(held[0]!) - held.length;
      if (chunk.length < missing) {
        held = concat(held, chunk);
      } else {
        const char = concat(held, chunk.subarray(0, missing));
        if (!isUtf8(char)) throw notUtf8(offset - held.length + Math.max(firstInvalidUtf8(char), 0));
        held = new Uint8Array(0);
        from = missing;
      }
    }
    if (held.length === 0) {
      const tail = incompleteTail(chunk, from);
      const body = chunk.subarray(from, chunk.length - tail);
      if (!isUtf8(body)) throw notUtf8(offset + from + Math.max(firstInvalidUtf8(body), 0));
      held = Uint8Array.from(chunk.subarray(chunk.length - tail));
    }
    offset += chunk.length;
    if (offset - reported >= PROGRESS_EVERY_BYTES) {
      onBytes(offset);
      reported = offset;
    }
    if (chunk.length > 0) yield chunk;
  }
  if (held.length > 0) throw notUtf8(offset - held.length + Math.max(firstInvalidUtf8(held), 0));
  onBytes(offset);
}

function notUtf8(byte: number): JobFailure {
  return new JobFailure(`input is not UTF-8 text (invalid byte sequence near byte ${byte})`);
}

function isUtf16Bom(chunk: Uint8Array): boolean {
  return (
    chunk.length >= 2 &&
    ((chunk[0] === 0xff && chunk[1] === 0xfe) || (chunk[0] === 0xfe && chunk[1] === 0xff))
  );
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  return a.length === 0 ? b : Buffer.concat([a, b]);
}

/** The length of the sequence a lead byte starts (an invalid lead counts as long, and fails later). */
function sequenceLength(lead: number): number {
  return lead >= 0xf0 ? 4 : lead >= 0xe0 ? 3 : lead >= 0xc0 ? 2 : 1;
}

/** How many bytes at the end of `chunk` (not before `from`) start a character not complete yet. */
function incompleteTail(chunk: Uint8Array, from: number): number {
  for (let k = 1; k <= 3 && chunk.length - k >= from; k++) {
    const byte = chunk[chunk.length - k]!;
    if ((byte & 0xc0) === 0x80) continue; // a continuation byte: look further back for the lead
    return sequenceLength(byte) > k ? k : 0;
  }
  return 0;
}

/** Index of the first byte that starts an invalid sequence (WHATWG rules), or -1. */
export function firstInvalidUtf8(bytes: Uint8Array): number {
  const n = bytes.length;
  let i = 0;
  while (i < n) {
    const lead = bytes[i]!;
    if (lead < 0x80) {
      i++;
      continue;
    }
    let more: number;
    let low = 0x80;
    let high = 0xbf;
    if (lead >= 0xc2 && lead <= 0xdf) more = 1;
    else if (lead >= 0xe0 && lead <= 0xef) {
      more = 2;
      if (lead === 0xe0) low = 0xa0;
      else if (lead === 0xed) high = 0x9f; // UTF-16 surrogates
    } else if (lead >= 0xf0 && lead <= 0xf4) {
      more = 3;
      if (lead === 0xf0) low = 0x90;
      else if (lead === 0xf4) high = 0x8f; // above U+10FFFF
    } else return i;
    for (let k = 1; k <= more; k++) {
      if (i + k >= n) return -1; // incomplete, not (yet) invalid
      const byte = bytes[i + k]!;
      if (byte < (k === 1 ? low : 0x80) || byte > (k === 1 ? high : 0xbf)) return i;
    }
    i += more + 1;
  }
  return -1;
}
