import type { Request, Response } from 'express';
import type { Logger } from 'pino';
import type { Principal } from '../core/auth/principal.js';
import { ValidationError } from '../core/errors.js';
import { TERMINAL_STATUSES, type JobDto, type JobStatus } from '../core/jobs/job-dto.js';
import type { JobsService } from '../core/jobs/jobs-service.js';
import type { LiveEvents } from '../core/jobs/live-events.js';
import { coalesced } from './coalesced.js';
import { requestLog } from './http-middleware.js';
import type { JobListFeed, ListFollower } from './job-list-feed.js';
import { MAX_LOG_SEQ } from './schemas.js';
import type { StreamGuard } from './stream-guard.js';

/** A comment line every so often keeps proxies and load balancers from closing an idle stream. */
export const DEFAULT_PING_MS = 15_000;
/** Lines read per query while catching up. */
const PAGE = 1000;

export interface LiveDeps {
  jobs: JobsService;
  live: LiveEvents;
  /** Streams per token, and their tokens re-checked while open. */
  guard: StreamGuard;
  logger: Logger;
  /** Period of the `: ping` comments (default 15 s). */
  pingMs?: number;
}

/** True when the client asked for a Server-Sent Events stream. */
export function wantsEventStream(req: Request): boolean {
  return (req.header('accept') ?? '').toLowerCase().includes('text/event-stream');
}

/**
 * One Server-Sent Events response. Writes respect backpressure (a slow client holds the reader
 * back instead of growing the server's buffers); `closed` turns true when the client goes.
 */
export class SseStream {
  closed = false;
  private readonly ping: NodeJS.Timeout;
  private readonly onClose: (() => void)[] = [];

  constructor(
    private readonly res: Response,
    pingMs = DEFAULT_PING_MS,
  ) {
    res.status(200);
    res.setHeader('Content-Type', 'text/event-stream; charset=utf-8');
    res.setHeader('Cache-Control', 'no-cache, no-transform');
    res.setHeader('Connection', 'keep-alive');
    // nginx and friends buffer responses unless told otherwise.
    res.setHeader('X-Accel-Buffering', 'no');
    res.flushHeaders();
    res.socket?.setNoDelay(true);
    // EventSource reconnects after `retry` ms (its default of 3 s is long for a log view).
    res.write('retry: 1000\n\n');
    this.ping = setInterval(() => void this.write(': ping\n\n'), pingMs);
    this.ping.unref();
    res.on('close', () => this.close());
  }

  /** Runs `fn` when the stream closes (client gone or `end`). */
  whenClosed(fn: () => void): void {
    if (this.closed) fn();
    else this.onClose.push(fn);
  }

  /** Sends one event; resolves when it may send the next (the socket drained). */
  send(event: string, data: unknown, id?: number): Promise<void> {
    const json = JSON.stringify(data);
    // JSON.stringify never emits a raw newline, so `data` fits on one line.
    return this.write(`event: ${event}\n${id === undefined ? '' : `id: ${id}\n`}data: ${json}\n\n`);
  }

  end(): void {
    if (!this.closed) this.res.end();
    this.close();
  }

  /**
   * Ends the stream because its token no longer authenticates: a last `event: error` with the
   * API's error shape, then the server closes (written at once, whatever the client's backlog).
   */
  endUnauthorized(): void {
    if (this.closed) return;
    void this.send('error', { error: { code: 'unauthorized', message: 'token revoked' } });
    this.end();
  }

  private write(chunk: string): Promise<void> {
    if (this.closed) return Promise.resolve();
    if (this.res.write(chunk)) return Promise.resolve();
    return new Promise((resolve) => {
      const done = () => {
        this.res.off('drain', done);
        this.res.off('close', done);
        resolve();
      };
      this.res.on('drain', done);
      this.res.on('close', done);
    });
  }

  private close(): void {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.ping);
    for (const fn of this.onClose.splice(0)) fn();
  }
}

/** `Last-Event-ID` (the last seq the client saw, sent by EventSource on reconnect) wins over `?after`. */
function startAfter(req: Request, after: number): number {
  const header = req.header('last-event-id');
  if (header === undefined || header.trim() === '') return after;
  const seq = /^\d{1,10}$/.test(header.trim()) ? Number(header.trim()) : NaN;
  if (!(seq <= MAX_LOG_SEQ))
    throw new ValidationError(
      `Last-Event-ID must be the seq of a log line (a whole number from 0 to ${MAX_LOG_SEQ})`,
    );
  return seq;
}

/**
 * GET /api/jobs/:id/logs as an event stream: the lines after the cursor, then new ones as they are
 * committed, `job` events when status or progress change, and a final `end` (the job as it
 * ended) once the job has ended and all its lines were sent; then the server closes the stream.
 */
export async function streamJobLogs(
  req: Request,
  res: Response,
  deps: LiveDeps & { viewer: Principal; id: string; after: number },
): Promise<void> {
  const { jobs, live, id } = deps;
  let cursor = startAfter(req, deps.after);
  await jobs.get(deps.viewer, id); // 404 for a job the viewer may not see, before any header
  const ticket = deps.guard.admit(deps.viewer); // 429 past the token's streams, before any header
  let lastJob = '';
  // Subscribed before the first read, so nothing committed in between is missed.
  // Events before the stream exists need nothing: its first read comes after them.
  let ready = false;
  let unsubscribe: () => void;
  try {
    unsubscribe = await live.subscribeJob(id, (e) => {
      if (ready) return e.k === 'closing' ? s.end() : kick();
    });
  } catch (err) {
    ticket.release();
    throw err;
  }
  if (req.destroyed || res.writableEnded) return (unsubscribe(), ticket.release());
  const s = new SseStream(res, deps.pingMs);
  s.whenClosed(() => {
    unsubscribe();
    ticket.release();
  });
  ticket.onRevoked(() => s.endUnauthorized());
  const kick = coalesced(
    async () => {
      if (s.closed) return;
      if (!(await ticket.active())) return s.endUnauthorized();
      // The job is read before its lines: once it is seen ended, every line it wrote is
      // committed (an attempt's last lines commit with its outcome, a cancelled one's too: the
      // processor writes CANCELLED itself once the handler stopped), so the drain below is
      // complete and `end` follows the real last line.
      const job = await jobs.find(id);
      if (!job) return s.end(); // deleted meanwhile
      for (;;) {
        const lines = await jobs.logsAfter(id, cursor, PAGE);
        for (const line of lines) {
          if (s.closed) return;
          await s.send('log', line, line.seq);
          cursor = line.seq;
        }
        if (lines.length < PAGE) break;
      }
      const state = jobState(job);
      if (state !== lastJob) {
        lastJob = state;
        await s.send('job', job);
      }
      if (TERMINAL_STATUSES.includes(job.status)) {
        await s.send('end', job);
        s.end();
      }
    },
    (err) => {
      requestLog(req, deps.logger).warn({ err, jobId: id }, 'log stream failed');
      s.end(); // the client reconnects with Last-Event-ID
    },
  );
  ready = true;
  kick();
}

/**
 * GET /api/jobs as an event stream: a `job` event each time a job the viewer's list shows (same
 * filters and permissions as the JSON list) is created or changes status or progress. Rows come
 * from the process's JobListFeed (one read per change for every open list); this stream only
 * filters by status, drops repeats and writes at its client's pace.
 */
export async function streamJobList(
  req: Request,
  res: Response,
  deps: LiveDeps & {
    viewer: Principal;
    query: { status?: JobStatus; type?: string; all?: boolean };
    /** Every list stream of the process, served from one read per change. */
    listFeed: JobListFeed;
  },
): Promise<void> {
  const { jobs, viewer, query } = deps;
  jobs.checkList(viewer, query); // 403 before any header
  const ticket = deps.guard.admit(viewer); // 429 past the token's streams, before any header
  // The latest state of each job not sent yet: a slow client holds one entry per job, however
  // many changes it missed.
  const pending = new Map<string, JobDto>();
  const sent = new Map<string, string>();
  let ready = false;
  let closing = false;
  let failed = false;
  const follower: ListFollower = {
    viewer,
    filter: query,
    shown: () => sent.keys(),
    deliver(rows) {
      for (const job of rows) {
        pending.delete(job.id); // re-inserted: keeps the order the feed read them in
        pending.set(job.id, job);
      }
      if (ready) drain();
    },
    failed(err) {
      requestLog(req, deps.logger).warn({ err }, 'job list stream failed');
      if (ready) s.end();
      else failed = true;
    },
    closing() {
      if (ready) s.end();
      else closing = true;
    },
  };
  let unfollow: () => void;
  try {
    unfollow = await deps.listFeed.follow(follower);
  } catch (err) {
    ticket.release();
    throw err;
  }
  if (req.destroyed || res.writableEnded) return (unfollow(), ticket.release());
  const s = new SseStream(res, deps.pingMs);
  s.whenClosed(() => {
    unfollow();
    ticket.release();
  });
  ticket.onRevoked(() => s.endUnauthorized());
  const drain = coalesced(
    async () => {
      while (pending.size > 0 && !s.closed) {
        if (!(await ticket.active())) return s.endUnauthorized();
        const jobsNow = [...pending.values()];
        pending.clear();
        for (const job of jobsNow) {
          if (s.closed) return;
          // A job already sent that moves out of the status filter (RUNNING → COMPLETED under
          // status=RUNNING) is sent once more, so the client sees it leave.
          if (query.status && job.status !== query.status && !sent.has(job.id)) continue;
          // Several notifications may name one state (a resync, a progress write that rounded to
          // the same value): send each state of a job once.
          const state = jobState(job);
          if (sent.get(job.id) === state) continue;
          sent.set(job.id, state);
          await s.send('job', job);
        }
      }
      if (sent.size > 10_000) sent.clear(); // bounded: at worst a repeated event
    },
    (err) => {
      requestLog(req, deps.logger).warn({ err }, 'job list stream failed');
      s.end();
    },
  );
  ready = true;
  if (closing || failed) return s.end();
  drain(); // jobs that changed while the stream was being set up
}

function jobState(job: JobDto): string {
  return JSON.stringify([job.status, job.progress, job.attempts, job.error]);
}
