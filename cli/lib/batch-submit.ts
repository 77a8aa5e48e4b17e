import type { ApiClient } from './api-client.js';
import type { BatchJobResult, Job } from './api-types.js';
import { ApiError } from './errors.js';
import type { NdjsonLine } from './ndjson.js';

/** What became of one line of a batch file, as `jobs submit --batch` reports it. */
export interface BatchLineResult {
  line: number;
  /**
   * The API's status for the line's job: 201 created, 200 the earlier job of its idempotencyKey,
   * 4xx its own error. Absent when the line never reached the API (it is not a JSON object).
   */
  status?: number;
  job?: Job;
  error?: { code: string; message: string; details?: unknown };
}

export interface BatchSubmitOptions {
  /** Filled in where a line has none (`--type`, `--max-attempts`). */
  defaults?: { type?: string; maxAttempts?: number; webhookUrl?: string; priority?: number };
  /** Jobs per request: the API's maximum (1,000). */
  maxJobs?: number;
  /** JSON bytes per request, kept well under the API's 8 MB body limit. */
  maxBytes?: number;
  /** Called before each request with the line numbers it carries. */
  onRequest?: (first: number, last: number) => void;
}

/** The API's maximum jobs per POST /api/jobs/batch. */
export const MAX_BATCH_JOBS = 1000;

/**
 * Submits the jobs of an NDJSON input through POST /api/jobs/batch, a request per chunk of up to
 * 1,000 lines, reading the next chunk only once the last one is answered (memory holds one chunk).
 * Yields each chunk's results in line order. A line that is not a JSON object is reported by
 * line number and not sent; everything else is the API's to judge (its errors come back per line).
 * A request refused whole (401, 403, 429, a network error) stops the submission: it throws, saying
 * from which line on nothing was submitted.
 */
export async function* submitBatches(
  api: Pick<ApiClient, 'createJobsBatch'>,
  lines: AsyncIterable<NdjsonLine>,
  opts: BatchSubmitOptions = {},
): AsyncGenerator<BatchLineResult[]> {
  const maxJobs = opts.maxJobs ?? MAX_BATCH_JOBS;
  const maxBytes = opts.maxBytes ?? 4 * 1024 * 1024;
  let chunk: Entry[] = [];
  let jobs = 0;
  let bytes = 0;
  let sent = false;
  const flush = async () => {
    const first = chunk.find((e) => 'job' in e)?.line;
    try {
      const out = await send(api, chunk, opts);
      sent ||= first !== undefined;
      return out;
    } catch (err) {
      throw sent && first !== undefined ? stoppedAt(err, first) : err;
    } finally {
      chunk = [];
      jobs = 0;
      bytes = 0;
    }
  };
  for await (const l of lines) {
    const entry = toEntry(l, opts.defaults ?? {});
    if ('job' in entry) {
      const size = JSON.stringify(entry.job).length;
      if (jobs > 0 && (jobs >= maxJobs || bytes + size > maxBytes)) yield await flush();
      jobs++;
      bytes += size;
    }
    chunk.push(entry);
  }
  if (chunk.length > 0) yield await flush();
}

/** A line on its way: the job to send, or the reason it is not one. */
type Entry =
  { line: number; job: Record<string, unknown> } | { line: number; error: BatchLineResult['error'] };

function toEntry(l: NdjsonLine, defaults: NonNullable<BatchSubmitOptions['defaults']>): Entry {
  if ('tooLong' in l) {
    return { line: l.line, error: { code: 'invalid_line', message: `line ${l.line} is longer than 1 MiB` } };
  }
  let value: unknown;
  try {
    value = JSON.parse(l.text);
  } catch (err) {
    return {
      line: l.line,
      error: { code: 'invalid_line', message: `line ${l.line} is not valid JSON: ${(err as Error).message}` },
    };
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    return {
      line: l.line,
      error: {
        code: 'invalid_line',
        message: `line ${l.line} is not a JSON object like {"type":"noop","params":{}}`,
      },
    };
  }
  const job = { ...(value as Record<string, unknown>) };
  if (job.type === undefined && defaults.type !== undefined) job.type = defaults.type;
  if (job.maxAttempts === undefined && defaults.maxAttempts !== undefined)
    job.maxAttempts = defaults.maxAttempts;
  if (job.webhookUrl === undefined && defaults.webhookUrl !== undefined) job.webhookUrl = defaults.webhookUrl;
  if (job.priority === undefined && defaults.priority !== undefined) job.priority = defaults.priority;
  return { line: l.line, job };
}

async function send(
  api: Pick<ApiClient, 'createJobsBatch'>,
  chunk: Entry[],
  opts: BatchSubmitOptions,
): Promise<BatchLineResult[]> {
  const toSend = chunk.filter((e): e is Extract<Entry, { job: unknown }> => 'job' in e);
  let answers: BatchJobResult[] = [];
  if (toSend.length > 0) {
    opts.onRequest?.(toSend[0].line, toSend.at(-1)!.line);
    answers = (await api.createJobsBatch(toSend.map((e) => e.job))).results;
  }
  let next = 0;
  return chunk.map((e) => {
    if (!('job' in e)) return { line: e.line, error: e.error };
    const a = answers[next++];
    return 'job' in a
      ? { line: e.line, status: a.status, job: a.job }
      : { line: e.line, status: a.status, error: a.error };
  });
}

/** A request refused whole: the API's sentence, and which lines were left unsubmitted. */
function stoppedAt(err: unknown, line: number): unknown {
  if (!(err instanceof Error)) return err;
  const note = ` (lines from ${line} on were not submitted)`;
  if (err instanceof ApiError) return new ApiError(err.status, { ...err.body, message: err.message + note });
  err.message += note;
  return err;
}
