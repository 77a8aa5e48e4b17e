// A job type of your own, outside the platform's source: plain ESM JavaScript, so it runs
// without a build. Start the platform with it:
//
//   JOBS_HANDLERS=examples/handlers/greet.mjs node bin/run.js server
//   node bin/run.js submit --type greet --params-json '{"names":["Ada","Grace"]}' --follow
//
// The module's bare imports (`zod` here) resolve from the module's own directory, as any Node
// module's do: next to your project, `npm install zod@4` there (README, "Your own job types").
import { setTimeout as sleep } from 'node:timers/promises';
import { z } from 'zod';

// A JobHandler (processor/handler.ts has the shape and ctx's members): no platform import needed.
export default {
  type: 'greet',
  description: 'Greets each name in turn, pausing pauseMs between two (cancellable).',
  // Checked when the job is submitted (a 400 naming the field) and again before it runs; the
  // defaults are filled in then.
  params: z.strictObject({
    names: z.array(z.string().min(1).max(100)).min(1).max(10_000),
    greeting: z.string().min(1).max(40).default('hello'),
    pauseMs: z.int().min(0).max(60_000).default(0),
  }),
  input: 'none',
  // Greeting twice is harmless, but a failure here is never transient: no retries.
  maxAttempts: 1,
  async run(ctx) {
    const { names, greeting, pauseMs } = ctx.params;
    ctx.progress(0, names.length);
    for (const [i, name] of names.entries()) {
      // Cancellation, shutdown and deadlines all abort this signal: stop promptly.
      ctx.signal.throwIfAborted();
      if (name.toLowerCase() === 'nobody') {
        // Any error fails the job with its message (set `retryable = true` on it for a retry).
        throw new Error(`there is nobody to greet (name ${i + 1})`);
      }
      ctx.log.info(`${greeting}, ${name}!`);
      ctx.progress(i + 1, names.length);
      if (pauseMs > 0 && i < names.length - 1) {
        try {
          await sleep(pauseMs, undefined, { signal: ctx.signal });
        } catch (err) {
          // timers/promises rejects with its own AbortError: report why the job stopped.
          throw ctx.signal.aborted ? ctx.signal.reason : err;
        }
      }
    }
    // The value returned is the job's `result` (JSON).
    return { greeted: names.length };
  },
};
