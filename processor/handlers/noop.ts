import { setImmediate as nextTurn, setTimeout as sleep } from 'node:timers/promises';
import { z } from 'zod';
import { JobFailure, type JobContext, type JobHandler } from '../handler.js';

const DAY_MS = 24 * 60 * 60 * 1000;
const TICK_MS = 1000;

export const noopParams = z.strictObject({
  sleepMs: z.int().min(0).max(DAY_MS).default(0),
  fail: z.boolean().default(false),
  logLines: z.int().min(0).max(1_000_000).default(0),
});
export type NoopParams = z.output<typeof noopParams>;

/**
 * Does nothing, observably: for smoke tests of the queue, the worker, logs, progress,
 * cancellation and deadlines.
 *
 * Progress counts one unit per log line and one per millisecond slept, so it moves through both
 * phases and reaches its total when the job is done.
 *
 * @example
 * jobs submit --type noop --param logLines=20 --param sleepMs=5000 --follow
 */
export const noop: JobHandler<NoopParams> = {
  type: 'noop',
  description: 'Logs logLines lines, sleeps sleepMs (cancellable), then succeeds, or fails if fail is true.',
  params: noopParams,
  // Optional, so a smoke test can also push a file through upload, storage and the input stream;
  // a given input is read to the end and its size reported.
  input: 'optional',
  async run(ctx: JobContext<NoopParams>) {
    const { sleepMs, fail, logLines } = ctx.params;
    const { signal } = ctx;
    signal.throwIfAborted();
    const total = logLines + sleepMs;
    ctx.progress(0, total);

    for (let i = 1; i <= logLines; i++) {
      ctx.log.info(`line ${i} of ${logLines}`);
      if (i % 1000 === 0) {
        ctx.progress(i, total);
        // Let the log writer flush and a cancellation land between batches.
        await nextTurn();
        signal.throwIfAborted();
      }
    }
    ctx.progress(logLines, total);

    let inputBytes: number | undefined;
    if (ctx.input) {
      inputBytes = 0;
      for await (const chunk of ctx.input) {
        signal.throwIfAborted();
        inputBytes += (chunk as Uint8Array | string).length;
      }
    }

    const started = Date.now();
    for (let slept = 0; slept < sleepMs; slept = Date.now() - started) {
      try {
        await sleep(Math.min(TICK_MS, sleepMs - slept), undefined, { signal });
      } catch (err) {
        // timers/promises rejects with its own AbortError; the owner should see why it stopped.
        throw signal.aborted ? signal.reason : err;
      }
      ctx.progress(logLines + Math.min(Date.now() - started, sleepMs), total);
    }
    ctx.progress(total, total);

    if (fail) throw new JobFailure('noop failed as requested');
    return inputBytes === undefined
      ? { sleptMs: sleepMs, logLines }
      : { sleptMs: sleepMs, logLines, inputBytes };
  },
};
