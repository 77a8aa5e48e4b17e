import type { Logger } from 'pino';
import type { Principal } from '../core/auth/principal.js';
import type { JobDto, JobStatus } from '../core/jobs/job-dto.js';
import type { LiveEvent, LiveEvents } from '../core/jobs/live-events.js';
import { coalesced } from './coalesced.js';

/** The filters of a live job list (those of `GET /api/jobs` that apply to a stream). */
export interface ListFilter {
  status?: JobStatus;
  type?: string;
  all?: boolean;
}

/** One open list stream, as the feed sees it. */
export interface ListFollower {
  viewer: Principal;
  filter: ListFilter;
  /** Jobs this follower has shown (re-read after a resync). */
  shown(): Iterable<string>;
  /**
   * Jobs that changed and pass the owner and type filters (the status filter is the follower's:
   * a job it showed that leaves the filter is shown once more). Must not block: queue and return.
   */
  deliver(rows: JobDto[]): void;
  /** The changed jobs could not be read; the follower ends (its client reconnects). */
  failed(err: unknown): void;
  /** The process is shutting down. */
  closing(): void;
}

/**
 * The live job lists of one process, served from one read per change: when jobs change, the
 * feed reads their rows once (however many notifications arrived meanwhile: one query) and hands
 * each row to every list stream that may show it, filtering in memory by owner, `all` and type.
 * A thousand open lists cost the database what one does.
 *
 * @example
 * const feed = new JobListFeed({ live, read: (ids) => jobs.rowsOf(ids), logger });
 * const unfollow = await feed.follow(follower); // …; unfollow() when the stream closes
 */
export class JobListFeed {
  private readonly followers = new Set<ListFollower>();
  private readonly changed = new Set<string>();
  private subscription?: Promise<() => void>;
  private readonly kick: () => void;

  constructor(
    private readonly deps: {
      live: LiveEvents;
      /** The jobs with these ids (any owner), read in one query. */
      read: (ids: string[]) => Promise<JobDto[]>;
      logger: Logger;
    },
  ) {
    this.kick = coalesced(
      () => this.readAndFanOut(),
      (err) => {
        deps.logger.warn({ err }, 'job list streams: reading the changed jobs failed');
        for (const f of [...this.followers]) f.failed(err);
      },
    );
  }

  /**
   * Starts delivering to `f`; resolves once the live channel is listened to (so nothing committed
   * after it is missed), with the function that stops.
   */
  async follow(f: ListFollower): Promise<() => void> {
    this.followers.add(f);
    const unfollow = () => {
      if (this.followers.delete(f)) this.releaseIfIdle();
    };
    try {
      await (this.subscription ??= this.deps.live.subscribe((e) => this.onEvent(e)));
    } catch (err) {
      this.subscription = undefined; // the next follower tries again
      unfollow();
      throw err;
    }
    return unfollow;
  }

  /** Streams following right now (for tests and metrics). */
  get size(): number {
    return this.followers.size;
  }

  private onEvent(e: LiveEvent): void {
    if (e.k === 'closing') {
      for (const f of [...this.followers]) f.closing();
      return;
    }
    if (e.k === 'resync') {
      for (const f of this.followers) for (const id of f.shown()) this.changed.add(id);
    } else if (e.k === 'job') {
      // Cheap filters from the notification itself: a change nobody may see costs no read.
      let wanted = false;
      for (const f of this.followers) if ((wanted = sees(f, e.owner, e.type))) break;
      if (!wanted) return;
      this.changed.add(e.id);
    } else return;
    this.kick();
  }

  private async readAndFanOut(): Promise<void> {
    if (this.changed.size === 0 || this.followers.size === 0) return;
    const ids = [...this.changed];
    this.changed.clear();
    const rows = await this.deps.read(ids);
    for (const f of [...this.followers]) {
      const visible = rows.filter((job) => sees(f, job.ownerId, job.type));
      if (visible.length > 0) f.deliver(visible);
    }
  }

  private releaseIfIdle(): void {
    if (this.followers.size > 0 || !this.subscription) return;
    const subscription = this.subscription;
    this.subscription = undefined;
    this.changed.clear();
    void subscription.then(
      (unsubscribe) => unsubscribe(),
      () => {},
    );
  }
}

/** Whether a follower's list may show a job of this owner and type (status aside). */
function sees(f: ListFollower, owner: string, type: string): boolean {
  if (!f.filter.all && owner !== f.viewer.userId) return false;
  return !f.filter.type || type === f.filter.type;
}
