import type { Readable, Writable } from 'node:stream';
import type { z } from 'zod';

/**
 * A job type (strategy pattern). The built-ins are `builtinHandlers` (processor/handlers/); a
 * deployment adds its own in a module of its own named in JOBS_HANDLERS (examples/handlers/), or
 * passes them to `compose(config, { handlers })`: no edit to the platform.
 *
 * @example
 * export const hello: JobHandler<{ name: string }> = {
 *   type: 'hello',
 *   description: 'Greets someone',
 *   params: z.object({ name: z.string() }),
 *   input: 'none',
 *   async run(ctx) {
 *     ctx.log.info(`hello ${ctx.params.name}`);
 *     return { greeted: ctx.params.name };
 *   },
 * };
 */
// `any` default: the registry holds handlers of different param types side by side.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export interface JobHandler<P = any> {
  readonly type: string;
  readonly description: string;
  /** Validates (and defaults) `params` at submit time and again before running. */
  readonly params: z.ZodType<P>;
  /** Whether a job of this type takes an input file. */
  readonly input: 'required' | 'optional' | 'none';
  /** Attempts before the job is FAILED (default 3). */
  readonly maxAttempts?: number;
  /**
   * The default priority of its jobs: -100..100, higher first (default 0). A submit's `priority`
   * wins; JOBS_TYPE_PRIORITY=type=N overrides this.
   */
  readonly priority?: number;
  /**
   * At most this many of its jobs RUNNING at once, across every worker and Lambda (default: no
   * limit); JOBS_TYPE_CONCURRENCY=type=N overrides it (0: no limit).
   */
  readonly concurrency?: number;
  /** Does the work; the value returned becomes the job's `result` (JSON). Throw to fail. */
  run(ctx: JobContext<P>): Promise<unknown>;
}

export interface JobInputInfo {
  name: string;
  size: number;
  sha256: string;
}

export interface JobLogger {
  info(message: string, data?: unknown): void;
  warn(message: string, data?: unknown): void;
  error(message: string, data?: unknown): void;
}

export interface JobContext<P> {
  readonly jobId: string;
  readonly params: P;
  /** The input file as a byte stream (null when the job has none). Read it once. */
  readonly input: Readable | null;
  readonly inputInfo: JobInputInfo | null;
  /** Writes JobLog rows; buffered and inserted in batches, so call it freely. */
  readonly log: JobLogger;
  /** Reports progress; persisted at most a few times a second. */
  progress(done: number, total?: number | null): void;
  /** Aborted on cancellation or when the deadline is reached: stop promptly when it fires. */
  readonly signal: AbortSignal;
  /** 1 on the first attempt. */
  readonly attempt: number;
  /** Files the job produces for its owner to download (`jobs download`): see JobOutputs. */
  readonly outputs: JobOutputs;
}

/**
 * Named files a handler writes while it runs: each is streamed to the blob store (never held in
 * memory), and listed on the job with its size and SHA-256 once its stream has finished. Outputs
 * of an attempt that is retried are discarded; a completed job's are final.
 *
 * @example
 *   const out = ctx.outputs.create('report.csv', { contentType: 'text/csv' });
 *   await pipeline(rows, stringify(), out); // resolves once the output is stored and listed
 */
export interface JobOutputs {
  /**
   * Begins output `name` and returns the stream to write it to. End it (and wait for it to
   * finish, e.g. with `pipeline` or `finished`) before `run` returns: an output left unfinished
   * fails the job. `name` is a file name: letters, digits, `.`, `_`, `-`, starting with a letter
   * or digit, at most 128 characters; each once per attempt. Throws JobFailure when it is not.
   */
  create(name: string, opts?: { contentType?: string }): Writable;
}

/**
 * Thrown by a handler for a failure the job's owner should read: the job FAILS with `message` as
 * its error and no retry. Any other error fails the job too, with its message; errors marked
 * `retryable` are tried again while attempts remain.
 */
export class JobFailure extends Error {
  override name = 'JobFailure';
  constructor(
    message: string,
    readonly data?: unknown,
  ) {
    super(message);
  }
}

/** Thrown (or set `retryable = true` on an error) for transient trouble worth another attempt. */
export class RetryableError extends Error {
  override name = 'RetryableError';
  readonly retryable = true;
}
