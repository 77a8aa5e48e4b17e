import { setTimeout as sleep } from 'node:timers/promises';
import type { ApiClient } from './api-client.js';
import { isTerminal, type Job, type LogLine } from './api-types.js';
import { NetworkError } from './errors.js';

/**
 * How log lines reach a follower: `SseTransport` (the API's event stream, the default) or
 * `PollingTransport` (the JSON logs endpoint; used against a server without the stream).
 */
export interface LogTransport {
  /**
   * Emits every line with `seq > after` in order, until the job has ended and no line is left;
   * resolves to the job as it ended.
   */
  follow(jobId: string, after: number, emit: (line: LogLine) => void, hooks: FollowHooks): Promise<Job>;
}

export interface FollowHooks {
  /** Each time the job's state is read (drives a spinner). */
  onJob?: (job: Job) => void;
  signal?: AbortSignal;
}

export interface FollowOptions extends FollowHooks {
  /** Only lines with `seq > after` (`--since`); default 0, every line. */
  after?: number;
  onLine: (line: LogLine) => void;
  transport?: LogTransport;
}

/**
 * Streams a job's log lines as they are written and resolves to the job once it has ended and
 * every line was delivered. Used by `jobs logs --follow` and `jobs submit --follow`. A line is
 * never delivered twice (the last seq is tracked, pages may overlap) nor skipped.
 *
 * @example
 * const job = await followJob(api, id, { onLine: (l) => console.log(formatLogLine(l)) });
 * process.exitCode = job.status === 'COMPLETED' ? 0 : 1;
 */
export async function followJob(api: ApiClient, jobId: string, opts: FollowOptions): Promise<Job> {
  let last = opts.after ?? 0;
  const emit = (line: LogLine) => {
    if (line.seq <= last) return;
    last = line.seq;
    opts.onLine(line);
  };
  const transport = opts.transport ?? new SseTransport(api);
  return transport.follow(jobId, last, emit, { onJob: opts.onJob, signal: opts.signal });
}

/** Reads every line written so far with `seq > after`, page by page. */
export async function readLogs(
  api: ApiClient,
  jobId: string,
  after = 0,
  pageSize = 500,
  signal?: AbortSignal,
): Promise<LogLine[]> {
  const lines: LogLine[] = [];
  await drain(api, jobId, after, pageSize, (l) => lines.push(l), signal);
  return lines;
}

/**
 * Emits lines after `after` until the API says there are no more right now; returns the last seq.
 * Pages are sorted and de-duplicated against the cursor, so an overlapping page is harmless.
 */
async function drain(
  api: ApiClient,
  jobId: string,
  after: number,
  pageSize: number,
  emit: (line: LogLine) => void,
  signal?: AbortSignal,
): Promise<number> {
  let cursor = after;
  for (;;) {
    const page = await api.jobLogs(jobId, cursor, pageSize, signal);
    const before = cursor;
    for (const line of [...page.items].sort((a, b) => a.seq - b.seq)) {
      if (line.seq <= cursor) continue;
      cursor = line.seq;
      emit(line);
    }
    if (page.nextAfter === null || page.nextAfter === undefined) return cursor;
    // A page that moved nothing forward but says "more": trust its cursor, or stop rather than spin.
    if (cursor === before) {
      if (page.nextAfter > cursor) cursor = page.nextAfter;
      else return cursor;
    }
  }
}

/**
 * Follows the API's event stream (`GET /api/jobs/:id/logs`, `Accept: text/event-stream`): lines
 * arrive as they are committed and the server ends the stream after the job's `end` event. A
 * dropped connection (or one silent past `idleMs`; the server pings every 15 s) is reopened with
 * `Last-Event-ID` = the last seq delivered, so nothing is lost and, with `followJob`'s seq check,
 * nothing repeated. Gives up after `maxRetries` reconnects in a row that delivered nothing.
 * Against a server that answers JSON instead of a stream it falls back to polling.
 */
export class SseTransport implements LogTransport {
  constructor(
    private readonly api: ApiClient,
    private readonly opts: { maxRetries?: number; retryMs?: number; idleMs?: number } = {},
  ) {}

  async follow(
    jobId: string,
    after: number,
    emit: (line: LogLine) => void,
    hooks: FollowHooks,
  ): Promise<Job> {
    const maxRetries = this.opts.maxRetries ?? 8;
    const retryMs = this.opts.retryMs ?? 250;
    let cursor = after;
    let failures = 0;
    for (;;) {
      let ended: Job | undefined;
      let progressed = false;
      try {
        const streamed = await this.api.jobLogStream(jobId, {
          lastEventId: cursor,
          signal: hooks.signal,
          idleMs: this.opts.idleMs,
          onEvent: (e) => {
            progressed = true;
            if (e.event === 'log') {
              const line = JSON.parse(e.data) as LogLine;
              emit(line);
              cursor = Math.max(cursor, line.seq);
            } else if (e.event === 'job') {
              hooks.onJob?.(JSON.parse(e.data) as Job);
            } else if (e.event === 'end') {
              ended = JSON.parse(e.data) as Job;
              hooks.onJob?.(ended);
            }
          },
        });
        if (!streamed) return new PollingTransport(this.api).follow(jobId, cursor, emit, hooks);
        if (ended) return ended;
        // Closed without `end` (the server restarted, a proxy cut it): reopen where we were.
      } catch (err) {
        if (!(err instanceof NetworkError)) throw err;
        if (progressed) failures = 0;
        if (++failures > maxRetries) throw err;
        await sleep(Math.min(retryMs * 2 ** (failures - 1), 5_000), undefined, { signal: hooks.signal });
        continue;
      }
      if (progressed) failures = 0;
      else if (++failures > maxRetries)
        throw new NetworkError(`the log stream of job ${jobId} keeps closing without news`);
      else await sleep(retryMs, undefined, { signal: hooks.signal });
    }
  }
}

/** Polls the job and its logs every `intervalMs` (≈250 ms). */
export class PollingTransport implements LogTransport {
  constructor(
    private readonly api: ApiClient,
    private readonly intervalMs = 250,
    private readonly pageSize = 500,
    /** Consecutive network failures tolerated (with backoff) before giving up. */
    private readonly maxNetworkRetries = 5,
  ) {}

  async follow(
    jobId: string,
    after: number,
    emit: (line: LogLine) => void,
    hooks: FollowHooks,
  ): Promise<Job> {
    let cursor = after;
    let failures = 0;
    for (;;) {
      try {
        // The job is read before the logs: once it is seen ended, every line it wrote before
        // ending is already stored, so the drain that follows is the last one needed.
        const job = await this.api.getJob(jobId, hooks.signal);
        hooks.onJob?.(job);
        cursor = await drain(this.api, jobId, cursor, this.pageSize, emit, hooks.signal);
        if (isTerminal(job.status)) return job;
        failures = 0;
      } catch (err) {
        if (!(err instanceof NetworkError) || ++failures > this.maxNetworkRetries) throw err;
        await sleep(this.intervalMs * 2 ** failures, undefined, { signal: hooks.signal });
        continue;
      }
      await sleep(this.intervalMs, undefined, { signal: hooks.signal });
    }
  }
}

/**
 * Polls a job until it has ended (no logs): for `submit --wait`. The interval grows from
 * `intervalMs` to 1 s so a long job costs little.
 */
export async function waitForJob(
  api: ApiClient,
  jobId: string,
  hooks: FollowHooks & { intervalMs?: number } = {},
): Promise<Job> {
  let interval = hooks.intervalMs ?? 250;
  let failures = 0;
  for (;;) {
    try {
      const job = await api.getJob(jobId, hooks.signal);
      failures = 0;
      hooks.onJob?.(job);
      if (isTerminal(job.status)) return job;
    } catch (err) {
      if (!(err instanceof NetworkError) || ++failures > 5) throw err;
    }
    await sleep(interval, undefined, { signal: hooks.signal });
    interval = Math.min(interval * 1.5, 1000);
  }
}
