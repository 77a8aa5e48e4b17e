/**
 * Size limits of what a job stores: its `error`, its `result`, and each of its log lines. A
 * handler (or a hostile input: a CSV header of a million names) can produce values of any size;
 * stored as they are, one job's JSON grew to 34 MB and every list page that held it with it. These
 * pure functions cut such values down to a bounded size and say what they left out, so a reader
 * still sees the shape and the counts. They are applied where jobs and log lines are written, and
 * again where they are read (rows written before these limits, or by an older processor).
 */

/** `error`: at most this many characters, then "… (N more characters)". */
export const MAX_ERROR_CHARS = 4096;
/** `result`: JSON of at most this many bytes (UTF-8). See `capJson` for the rule. */
export const MAX_RESULT_BYTES = 64 * 1024;
/** A log line's message: at most this many characters (then "…"). */
export const MAX_LOG_MESSAGE_CHARS = 4000;
/** A log line's `data`: JSON of at most this many bytes (UTF-8). See `capJson` for the rule. */
export const MAX_LOG_DATA_BYTES = 8 * 1024;

/**
 * The passes `capJson` makes, each tighter than the last, until the JSON fits: arrays (and
 * objects) keep their first `items` entries, strings their first `chars` characters.
 */
export const SHRINK_PASSES: readonly { items: number; chars: number }[] = [
  { items: 1000, chars: 1000 },
  { items: 100, chars: 200 },
  { items: 10, chars: 50 },
];

/** How a value that no pass could shrink enough is stored instead. */
export interface TruncatedValue {
  truncated: true;
  /** The size of the value's JSON as given, in bytes. */
  bytes: number;
}

/**
 * Cuts `text` to `max` characters, saying how many were left out.
 *
 * @example
 * capError('x'.repeat(5000)) // 4096 x's, then '… (904 more characters)'
 */
export function capError(text: string, max = MAX_ERROR_CHARS): string {
  return cutString(text, max);
}

/**
 * A job's `result` as stored: the value's JSON (bigints as numbers; `toJSON` applied), bounded
 * by `capJson` to MAX_RESULT_BYTES. Null for undefined or null (the column is then empty).
 */
export function capResult(value: unknown, maxBytes = MAX_RESULT_BYTES): unknown {
  const text = capJson(value, maxBytes);
  return text === undefined ? null : (JSON.parse(text) as unknown);
}

/**
 * A log line as stored: the message cut to MAX_LOG_MESSAGE_CHARS (with "…"), and the data as
 * JSON text bounded by `capJson` to MAX_LOG_DATA_BYTES (absent when there is no data).
 */
export function capLogLine(line: { message: string; data?: unknown }): { message: string; data?: string } {
  const message =
    line.message.length > MAX_LOG_MESSAGE_CHARS
      ? `${line.message.slice(0, safeCut(line.message, MAX_LOG_MESSAGE_CHARS))}…`
      : line.message;
  if (line.data === undefined) return { message };
  return { message, data: capJson(line.data, MAX_LOG_DATA_BYTES) ?? 'null' };
}

/**
 * The JSON text of `value`, at most `maxBytes` bytes of UTF-8. The rule:
 *
 * 1. The value's JSON (bigints as numbers; a value JSON cannot hold, such as a cycle, as its
 *    `String()`): kept as it is when it fits.
 * 2. Otherwise it is shrunk by the passes of SHRINK_PASSES in turn, the first whose result fits
 *    winning. A pass keeps the first `items` elements of every array, followed by the string
 *    "… (N more items)"; the first `items` keys of every object, followed by the key "…" with
 *    the value "N more keys"; and the first `chars` characters of every string, followed by
 *    "… (N more characters)". Numbers, booleans and null are kept.
 * 3. When even the last pass does not fit: `{"truncated":true,"bytes":N}`, N being the size of
 *    the value's JSON.
 *
 * Undefined (and values JSON drops, such as functions) give undefined.
 */
export function capJson(value: unknown, maxBytes: number): string | undefined {
  const text = jsonText(value);
  if (text === undefined) return undefined;
  // A character is at most 3 bytes of UTF-8 (a surrogate pair, 2 characters, is 4): cheap first.
  if (text.length * 3 <= maxBytes) return text;
  const bytes = Buffer.byteLength(text);
  if (bytes <= maxBytes) return text;
  const parsed = JSON.parse(text) as unknown;
  for (const pass of SHRINK_PASSES) {
    const shrunk = JSON.stringify(shrink(parsed, pass));
    if (Buffer.byteLength(shrunk) <= maxBytes) return shrunk;
  }
  const truncated: TruncatedValue = { truncated: true, bytes };
  return JSON.stringify(truncated);
}

/** JSON text of a value (bigints as numbers); a value JSON cannot hold, as its `String()`. */
export function jsonText(value: unknown): string | undefined {
  try {
    return JSON.stringify(value, (_k, v: unknown) => (typeof v === 'bigint' ? Number(v) : v));
  } catch {
    return JSON.stringify(String(value));
  }
}

function shrink(value: unknown, pass: { items: number; chars: number }): unknown {
  if (typeof value === 'string') return cutString(value, pass.chars);
  if (Array.isArray(value)) {
    const kept = value.slice(0, pass.items).map((v) => shrink(v, pass));
    if (value.length > pass.items) kept.push(`… (${value.length - pass.items} more items)`);
    return kept;
  }
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value);
    const kept = Object.fromEntries(
      entries.slice(0, pass.items).map(([k, v]) => [cutString(k, pass.chars), shrink(v, pass)]),
    );
    if (entries.length > pass.items) kept['…'] = `${entries.length - pass.items} more keys`;
    return kept;
  }
  return value;
}

function cutString(text: string, max: number): string {
  if (text.length <= max) return text;
  const at = safeCut(text, max);
  return `${text.slice(0, at)}… (${text.length - at} more characters)`;
}

/** `at`, or one less when that would split a surrogate pair (half a character is not UTF-8). */
function safeCut(text: string, at: number): number {
  const code = text.charCodeAt(at - 1);
  return code >= 0xd800 && code <= 0xdbff ? at - 1 : at;
}

/** Lines a job may log per second, on average (JobLogWriter; LogRateLimiter). */
export const LOG_LINES_PER_SECOND = 1000;
/** Lines a job may log at once, above the average, before the rate applies. */
export const LOG_BURST_LINES = 10_000;

/**
 * A token bucket for one job's log lines: `burst` lines at once, then `perSecond` on average.
 * Lines over it are dropped and counted; `takeDropped` hands the count to the writer, which logs
 * one summary line ("N lines dropped (rate limit)") when logging resumes, or at the job's end.
 *
 * @example
 * const limiter = new LogRateLimiter();
 * if (limiter.allow()) write(line);
 * const dropped = limiter.takeDropped(); // then say so once
 */
export class LogRateLimiter {
  private tokens: number;
  private last: number;
  private dropped = 0;
  private readonly perSecond: number;
  private readonly burst: number;
  private readonly now: () => number;

  constructor(opts: { perSecond?: number; burst?: number; now?: () => number } = {}) {
    this.perSecond = opts.perSecond ?? LOG_LINES_PER_SECOND;
    this.burst = opts.burst ?? LOG_BURST_LINES;
    this.now = opts.now ?? Date.now;
    this.tokens = this.burst;
    this.last = this.now();
  }

  /** Whether one more line may be written now; counts it as dropped when not. */
  allow(): boolean {
    const now = this.now();
    if (now > this.last) {
      this.tokens = Math.min(this.burst, this.tokens + ((now - this.last) / 1000) * this.perSecond);
      this.last = now;
    }
    if (this.tokens >= 1) {
      this.tokens -= 1;
      return true;
    }
    this.dropped++;
    return false;
  }

  /** Lines dropped since the last call (and resets the count). */
  takeDropped(): number {
    const n = this.dropped;
    this.dropped = 0;
    return n;
  }
}

/** The summary line written for dropped lines. */
export function droppedLinesMessage(n: number): string {
  return `${n} line${n === 1 ? '' : 's'} dropped (rate limit)`;
}
