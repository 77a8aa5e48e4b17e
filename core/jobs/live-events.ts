import type { Database } from '../db/database.js';
import { TERMINAL_STATUSES, type JobStatus } from './job-dto.js';

/**
 * The NOTIFY channel of live updates. Job changes are announced by a trigger on `jobs`
 * (migration 20261128180600_6_live_notify), log batches by processor/job-log-writer.ts, both in
 * the transaction that writes them, so a notification always means "committed, read it now".
 */
export const LIVE_CHANNEL = 'jobs_live';

/** A job's status, progress or attempts changed (or it was created). */
export interface JobChanged {
  k: 'job';
  id: string;
  owner: string;
  type: string;
  status: JobStatus;
  /** Seconds from start to end, on the change that ended the job (null otherwise). */
  secs: number | null;
}

/** Log lines up to `seq` were committed for job `id`. */
export interface LogsWritten {
  k: 'log';
  id: string;
  seq: number;
}

/**
 * Notifications may have been missed (the LISTEN connection was re-established): every
 * follower should re-read what it shows.
 */
export interface Resync {
  k: 'resync';
}

/** The process is shutting down: live streams end now (their clients reconnect elsewhere). */
export interface Closing {
  k: 'closing';
}

export type LiveEvent = JobChanged | LogsWritten | Resync | Closing;

type Listener = (e: LiveEvent) => void;

/**
 * One LISTEN per process, shared by every live stream (an in-process fan-out): a thousand
 * browsers following jobs cost one database connection, not a thousand, and nobody polls.
 * Started on the first subscription and stopped when the last one leaves: a process nobody
 * follows does not take every job's every change (four to five notifications per job).
 */
export class LiveEvents {
  private readonly byJob = new Map<string, Set<Listener>>();
  private readonly all = new Set<Listener>();
  private started?: Promise<() => Promise<void>>;

  constructor(private readonly db: Database) {}

  /** Every event (job lists, metrics). Resolves once LISTEN is active. */
  subscribe(fn: Listener): Promise<() => void> {
    this.all.add(fn);
    return this.ready(() => {
      this.all.delete(fn);
    });
  }

  /** Events of one job (and resyncs). Resolves once LISTEN is active. */
  subscribeJob(jobId: string, fn: Listener): Promise<() => void> {
    let set = this.byJob.get(jobId);
    if (!set) this.byJob.set(jobId, (set = new Set()));
    set.add(fn);
    return this.ready(() => {
      set.delete(fn);
      if (set.size === 0 && this.byJob.get(jobId) === set) this.byJob.delete(jobId);
    });
  }

  /**
   * Runs `act`, then waits up to `ms` for job `jobId` to reach an end state (announced by the
   * `jobs` trigger on commit). Subscribed before `act`, so an end committed meanwhile is not
   * missed. Resolves with whether the end was seen; `act`'s result decides whether to wait at all.
   */
  async actThenAwaitEnd<T>(jobId: string, act: () => Promise<T>, waitFor: (r: T) => boolean, ms: number) {
    let ended!: () => void;
    const seen = new Promise<void>((resolve) => (ended = resolve));
    const unsubscribe = await this.subscribeJob(jobId, (e) => {
      if (e.k === 'closing' || (e.k === 'job' && TERMINAL_STATUSES.includes(e.status))) ended();
    });
    let timer: NodeJS.Timeout | undefined;
    try {
      const result = await act();
      if (!waitFor(result)) return result;
      await Promise.race([seen, new Promise<void>((resolve) => (timer = setTimeout(resolve, ms)))]);
      return result;
    } finally {
      clearTimeout(timer);
      unsubscribe();
    }
  }

  /** Subscribers right now (for tests and metrics). */
  get subscribers(): number {
    let n = this.all.size;
    for (const s of this.byJob.values()) n += s.size;
    return n;
  }

  private async ready(unsubscribe: () => void): Promise<() => void> {
    let gone = false;
    const leave = () => {
      if (gone) return;
      gone = true;
      unsubscribe();
      if (this.subscribers === 0) this.stopListening();
    };
    const started = (this.started ??= this.db.listen(LIVE_CHANNEL, (p) => this.dispatch(p), {
      onReconnect: () => this.emit({ k: 'resync' }),
    }));
    try {
      await started;
    } catch (err) {
      if (this.started === started) this.started = undefined; // the next subscriber tries again
      unsubscribe();
      throw err;
    }
    return leave;
  }

  /** The last subscriber left: UNLISTEN (a later subscriber LISTENs again). */
  private stopListening(): void {
    const started = this.started;
    if (!started) return;
    this.started = undefined;
    // The database's listener drops this subscription at once (a LISTEN that follows shares the
    // channel's connection, or starts a new one): no event is lost to the change, and a stream
    // that saw one twice would only read its rows again.
    void started.then((unlisten) => unlisten()).catch(() => {});
  }

  /**
   * Tells every subscriber the process is stopping (streams end, so an HTTP server can close
   * without waiting for them) and stops listening.
   */
  async close(): Promise<void> {
    const started = this.started;
    this.started = undefined;
    this.emit({ k: 'closing' });
    const unlisten = await started?.catch(() => undefined);
    await unlisten?.().catch(() => {});
  }

  private dispatch(payload: string): void {
    let e: LiveEvent;
    try {
      e = JSON.parse(payload) as LiveEvent;
    } catch {
      return; // not ours
    }
    if ((e.k !== 'job' && e.k !== 'log') || typeof e.id !== 'string') return;
    this.emit(e);
  }

  private emit(e: LiveEvent): void {
    for (const fn of [...this.all]) safe(fn, e);
    if (e.k === 'resync' || e.k === 'closing') {
      for (const set of this.byJob.values()) for (const fn of [...set]) safe(fn, e);
    } else {
      const set = this.byJob.get(e.id);
      if (set) for (const fn of [...set]) safe(fn, e);
    }
  }
}

function safe(fn: Listener, e: LiveEvent): void {
  try {
    fn(e);
  } catch {
    // one broken subscriber must not starve the others
  }
}
