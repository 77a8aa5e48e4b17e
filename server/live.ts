import type { Request, Response } from 'express';
import type { Logger } from 'pino';
import type { Principal } from '../core/auth/principal.js';
import { ValidationError } from '../core/errors.js';
import { TERMINAL_STATUSES, type JobDto, type JobStatus } from '../core/jobs/job-dto.js';
import type { JobsService } from '../core/jobs/jobs-service.js';
import type { LiveEvent, LiveEvents } from '../core/jobs/live-events.js';

/** A comment line every so often keeps proxies and load balancers from closing an idle stream. */
export const DEFAULT_PING_MS = 15_000;
/** Lines read per query while catching up. */
const PAGE = 1000;

export interface LiveDeps {
  jobs: JobsService;
  live: LiveEvents;
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

/**
 * Runs `work` whenever `kick` is called, never twice at once; kicks during a run cause exactly
 * one more run. Followers wake on notifications and re-read: however many arrive while a read is
 * in progress, they cost one read more.
 */
function coalesced(work: () => Promise<void>, onError: (err: unknown) => void): () => void {
  let running = false;
  let again = false;
  return function kick() {
    if (running) {
      again = true;
      return;
    }
    running = true;
    void (async () => {
      try {
        do {
          again = false;
          await work();
        } while (again);
      } catch (err) {
        onError(err);
      } finally {
        running = false;
      }
    })();
  };
}

/** `Last-Event-ID` (the last seq the client saw, sent by EventSource on reconnect) wins over `?after`. */
function startAfter(req: Request, after: number): number {
  const header = req.header('last-event-id');
  if (header === undefined || header.trim() === '') return after;
  if (!/^\d{1,10}$/.test(header.trim()))
    throw new ValidationError('Last-Event-ID must be the seq of a log line (a whole number)');
  return Number(header.trim());
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
  let lastJob = '';
  // Subscribed before the first read, so nothing committed in between is missed.
  // Events before the stream exists need nothing: its first read comes after them.
  let ready = false;
  const unsubscribe = await live.subscribeJob(id, (e) => {
    if (ready) return e.k === 'closing' ? s.end() : kick();
  });
  if (req.destroyed || res.writableEnded) return unsubscribe();
  const s = new SseStream(res, deps.pingMs);
  s.whenClosed(unsubscribe);
  const kick = coalesced(
    async () => {
      if (s.closed) return;
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
      (req.log ?? deps.logger).warn({ err, jobId: id }, 'log stream failed');
      s.end(); // the client reconnects with Last-Event-ID
    },
  );
  ready = true;
  kick();
}

/**
 * GET /api/jobs as an event stream: a `job` event each time a job the viewer's list shows (same
 * filters and permissions as the JSON list) is created or changes status or progress.
 */
export async function streamJobList(
  req: Request,
  res: Response,
  deps: LiveDeps & { viewer: Principal; query: { status?: JobStatus; type?: string; all?: boolean } },
): Promise<void> {
  const { jobs, live, viewer, query } = deps;
  jobs.checkList(viewer, query); // 403 before any header
  const changed = new Set<string>();
  const sent = new Map<string, string>();
  let ready = false;
  const onEvent = (e: LiveEvent) => {
    if (e.k === 'closing') return ready ? s.end() : undefined;
    if (e.k === 'resync') {
      for (const id of sent.keys()) changed.add(id);
    } else if (e.k === 'job') {
      // Cheap filters from the notification itself; the read re-checks them all.
      if (!query.all && e.owner !== viewer.userId) return;
      if (query.type && e.type !== query.type) return;
      changed.add(e.id);
    } else return;
    if (ready) kick();
  };
  const unsubscribe = await live.subscribe(onEvent);
  if (req.destroyed || res.writableEnded) return unsubscribe();
  const s = new SseStream(res, deps.pingMs);
  s.whenClosed(unsubscribe);
  const kick = coalesced(
    async () => {
      if (s.closed || changed.size === 0) return;
      const ids = [...changed];
      changed.clear();
      // Status is filtered here rather than in the query: a job already sent that moves out of
      // the filter (RUNNING → COMPLETED under status=RUNNING) is sent once more, so the client
      // sees it leave.
      const rows = await jobs.listed(viewer, ids, { ...query, status: undefined });
      for (const job of rows) {
        if (query.status && job.status !== query.status && !sent.has(job.id)) continue;
        // Several notifications may name one state (a resync, a progress write that rounded to
        // the same value): send each state of a job once.
        const state = jobState(job);
        if (sent.get(job.id) === state) continue;
        sent.set(job.id, state);
        await s.send('job', job);
      }
      if (sent.size > 10_000) sent.clear(); // bounded: at worst a repeated event
    },
    (err) => {
      (req.log ?? deps.logger).warn({ err }, 'job list stream failed');
      s.end();
    },
  );
  ready = true;
  kick(); // jobs that changed while the stream was being set up
}

function jobState(job: JobDto): string {
  return JSON.stringify([job.status, job.progress, job.attempts, job.error]);
}
