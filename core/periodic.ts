import type { Logger } from 'pino';

export interface Periodic {
  /** Cancels the next run and waits for one in progress. */
  stop(): Promise<void>;
}

/**
 * Runs `task` soon after start (within `firstDelayMs`), then `intervalMs` after each run ends, in
 * the background: the timer does not keep the process alive, and runs never overlap. A run that
 * throws is logged (`what` names it) and the next one tries again.
 *
 * @example
 * const sweeper = runPeriodically('sweeping expired uploads', () => uploads.sweepExpired(), {
 *   intervalMs: 600_000, logger,
 * });
 * await sweeper.stop(); // on shutdown
 */
export function runPeriodically(
  what: string,
  task: () => Promise<unknown>,
  opts: { intervalMs: number; firstDelayMs?: number; logger: Logger },
): Periodic {
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<void> | undefined;

  const schedule = (ms: number) => {
    timer = setTimeout(tick, ms);
    timer.unref();
  };
  const tick = () => {
    running = (async () => {
      try {
        await task();
      } catch (err) {
        opts.logger.warn({ err }, `${what} failed; retrying later`);
      }
    })();
    void running.then(() => {
      running = undefined;
      if (!stopped) schedule(opts.intervalMs);
    });
  };
  // Not during start-up itself: the first run a little after it.
  schedule(Math.min(opts.intervalMs, opts.firstDelayMs ?? 5_000));
  return {
    async stop() {
      stopped = true;
      clearTimeout(timer);
      await running;
    },
  };
}
