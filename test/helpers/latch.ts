import { EventEmitter } from 'node:events';
import fs from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import type { JobContext, JobHandler } from '../../processor/handler.js';
import { ROOT } from '../cli/helpers/run-cli.js';

/**
 * Test job types that hold a job RUNNING until the test lets it go, so a test synchronizes on
 * "the handler is running now" (an event) instead of guessing with `noop`'s `sleepMs`.
 *
 * In-process (startTestServer / composeForTest, `handlers: [latch.handler]`):
 *
 *   const latch = createLatch();
 *   s = await startTestServer(kind, { handlers: [latch.handler] });
 *   const { id } = (await api(…, 'POST', '/api/jobs', { type: 'latch' })).body;
 *   await latch.started(id);           // the handler is running
 *   latch.release(id);                 // now it returns
 *
 * Real processes (`jobs server`, `jobs worker`): test/fixtures/latch-handler.mjs through
 * JOBS_HANDLERS, whose latch is a directory of files; see {@link FileLatch}.
 */

export const latchParams = z.strictObject({
  /** Lines logged before the handler waits (the stream has something to show). */
  logLines: z.int().min(0).max(10_000).default(0),
});
export type LatchParams = z.output<typeof latchParams>;

export interface LatchRun {
  jobId: string;
  attempt: number;
  /** Date.now() when the handler started waiting. */
  startedAt: number;
}

export interface LatchEnd extends LatchRun {
  /** `released` (the test let it go) or `aborted` (its signal fired: cancel, deadline, shutdown). */
  how: 'released' | 'aborted';
  /** Date.now() when the handler returned or threw. */
  endedAt: number;
}

export interface Latch {
  /** The job type (`latch` unless named otherwise): pass it in `handlers`. */
  readonly handler: JobHandler<LatchParams>;
  /**
   * Resolves once a run of `jobId` is waiting in the handler (at once if one already started;
   * with `attempt`, that attempt's run). Rejects after `ms` (generous: a deadline, not a timing).
   */
  started(jobId: string, opts?: { attempt?: number; ms?: number }): Promise<LatchRun>;
  /** Resolves once a run of `jobId` (the latest, or `attempt`'s) has returned or thrown. */
  ended(jobId: string, opts?: { attempt?: number; ms?: number }): Promise<LatchEnd>;
  /** Lets the job's waiting run return, and every later run of it pass straight through. */
  release(jobId: string): void;
  /** Every run started so far, in order. */
  readonly runs: readonly LatchRun[];
  /** Forgets every run and release (between tests). */
  reset(): void;
}

/** An in-process latch job type (see the module's header). */
export function createLatch(type = 'latch'): Latch {
  const events = new EventEmitter();
  events.setMaxListeners(0);
  const runs: LatchRun[] = [];
  const ends: LatchEnd[] = [];
  const released = new Set<string>();

  const find = <T extends LatchRun>(list: T[], jobId: string, attempt?: number) =>
    list.findLast((r) => r.jobId === jobId && (attempt === undefined || r.attempt === attempt));

  function waitFor<T extends LatchRun>(
    what: 'started' | 'ended',
    list: T[],
    jobId: string,
    opts: { attempt?: number; ms?: number } = {},
  ): Promise<T> {
    const now = find(list, jobId, opts.attempt);
    if (now) return Promise.resolve(now);
    return new Promise<T>((resolve, reject) => {
      const ms = opts.ms ?? 60_000;
      const timer = setTimeout(() => {
        events.off(what, on);
        const seen = runs.filter((r) => r.jobId === jobId).map((r) => r.attempt);
        reject(
          new Error(
            `latch: job ${jobId} not ${what} within ${ms} ms (runs seen: ${seen.join(',') || 'none'})`,
          ),
        );
      }, ms);
      const on = (r: T) => {
        if (r.jobId !== jobId || (opts.attempt !== undefined && r.attempt !== opts.attempt)) return;
        clearTimeout(timer);
        events.off(what, on);
        resolve(r);
      };
      events.on(what, on);
    });
  }

  const handler: JobHandler<LatchParams> = {
    type,
    description: 'Test-only: logs logLines lines, then waits until the test releases the job',
    params: latchParams,
    input: 'none',
    async run(ctx: JobContext<LatchParams>) {
      for (let i = 1; i <= ctx.params.logLines; i++) ctx.log.info(`line ${i} of ${ctx.params.logLines}`);
      ctx.progress(0, 1);
      const run: LatchRun = { jobId: ctx.jobId, attempt: ctx.attempt, startedAt: Date.now() };
      runs.push(run);
      events.emit('started', run);
      let how: LatchEnd['how'] = 'released';
      try {
        // The listeners go on in the same turn as 'started': a release right after it is seen.
        await new Promise<void>((resolve, reject) => {
          const onAbort = () => {
            events.off('release', onRelease);
            how = 'aborted';
            reject(ctx.signal.reason);
          };
          const onRelease = (jobId: string) => {
            if (jobId !== ctx.jobId) return;
            events.off('release', onRelease);
            ctx.signal.removeEventListener('abort', onAbort);
            resolve();
          };
          if (ctx.signal.aborted) return onAbort();
          if (released.has(ctx.jobId)) return resolve();
          ctx.signal.addEventListener('abort', onAbort, { once: true });
          events.on('release', onRelease);
        });
        ctx.progress(1, 1);
        return { attempt: ctx.attempt };
      } finally {
        const end: LatchEnd = { ...run, how, endedAt: Date.now() };
        ends.push(end);
        events.emit('ended', end);
      }
    },
  };

  return {
    handler,
    started: (jobId, opts) => waitFor('started', runs, jobId, opts),
    ended: (jobId, opts) => waitFor('ended', ends, jobId, opts),
    release(jobId) {
      released.add(jobId);
      events.emit('release', jobId);
    },
    get runs() {
      return runs;
    },
    reset() {
      runs.length = 0;
      ends.length = 0;
      released.clear();
    },
  };
}

/** The file-latch job type's module, for JOBS_HANDLERS of a `jobs server` or `jobs worker` process. */
export const LATCH_HANDLER = path.join(ROOT, 'test', 'fixtures', 'latch-handler.mjs');

export interface FileLatchRun {
  attempt: number;
  pid: number;
}

/**
 * The test's side of test/fixtures/latch-handler.mjs (type `latch`, params `{ dir, logLines? }`):
 * the handler appends `<attempt> <pid>` to `<dir>/<jobId>.started`, then waits until
 * `<dir>/<jobId>.release` exists or its signal aborts.
 *
 *   const latch = new FileLatch(dir);
 *   // submit { type: 'latch', params: latch.params() } to a process started with
 *   // JOBS_HANDLERS=LATCH_HANDLER
 *   await latch.started(id);
 *   latch.release(id);
 */
export class FileLatch {
  constructor(readonly dir: string) {
    fs.mkdirSync(dir, { recursive: true });
  }

  /** The job's params: this latch's directory (plus any of the type's other params). */
  params(extra: { logLines?: number } = {}): { dir: string; logLines?: number } {
    return { dir: this.dir, ...extra };
  }

  /** The runs of `jobId` started so far (from its `.started` file). */
  runs(jobId: string): FileLatchRun[] {
    const file = path.join(this.dir, `${jobId}.started`);
    if (!fs.existsSync(file)) return [];
    return fs
      .readFileSync(file, 'utf8')
      .split('\n')
      .filter(Boolean)
      .map((line) => {
        const [attempt, pid] = line.split(' ').map(Number);
        return { attempt, pid };
      });
  }

  /**
   * Resolves with the runs of `jobId` once at least `count` (default 1) have started: the
   * directory is watched, and checked again on every change. Rejects after `ms` (a deadline).
   */
  async started(jobId: string, opts: { count?: number; ms?: number } = {}): Promise<FileLatchRun[]> {
    const count = opts.count ?? 1;
    await watchUntil(
      this.dir,
      () => this.runs(jobId).length >= count,
      opts.ms ?? 90_000,
      () => {
        return `latch: job ${jobId} had ${this.runs(jobId).length} of ${count} runs started`;
      },
    );
    return this.runs(jobId);
  }

  /** Lets the job's waiting run return, and every later run pass straight through. */
  release(jobId: string): void {
    fs.writeFileSync(path.join(this.dir, `${jobId}.release`), '');
  }
}

/** Resolves once `ok()` holds, checking it on every change in `dir` (fs.watch) and once at first. */
function watchUntil(dir: string, ok: () => boolean, ms: number, why: () => string): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const watcher = fs.watch(dir);
    const finish = (err?: Error) => {
      clearTimeout(timer);
      watcher.close();
      if (err) reject(err);
      else resolve();
    };
    const check = () => {
      try {
        if (ok()) finish();
      } catch (err) {
        finish(err as Error);
      }
    };
    const timer = setTimeout(() => finish(new Error(`${why()} within ${ms} ms`)), ms);
    watcher.on('change', check);
    watcher.on('error', (err) => finish(err));
    check(); // after the watch began, so no change falls between the two
  });
}
