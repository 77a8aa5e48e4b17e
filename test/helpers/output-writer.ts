import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { z } from 'zod';
import { RetryableError, type JobHandler, type JobOutputs } from '../../processor/handler.js';

export const outputWriterParams = z.strictObject({
  /** Outputs to write, in order: `text` as UTF-8. */
  files: z
    .array(z.strictObject({ name: z.string(), text: z.string(), contentType: z.string().optional() }))
    .default(() => []),
  /** Attempts up to this one write their files, then fail with a retryable error. */
  failAttempts: z.int().min(0).default(0),
  /** Prefix added to each name on attempt N > 1 (`a.txt` → `2-a.txt`), to tell attempts apart. */
  renameOnRetry: z.boolean().default(false),
  /** Fail for good after writing (a JobFailure-like error): the outputs stay with the FAILED job. */
  failAfter: z.boolean().default(false),
  /** Begin one more output and return without ending it (a handler bug the platform reports). */
  leaveOpen: z.string().optional(),
});

/**
 * A test job type that writes named outputs (`ctx.outputs.create`), then succeeds or fails as its
 * params say: what the outputs tests drive through a real server and processor.
 */
export const outputWriter: JobHandler<z.output<typeof outputWriterParams>> = {
  type: 'output-writer',
  description: 'test: writes outputs',
  params: outputWriterParams,
  input: 'none',
  maxAttempts: 3,
  async run(ctx) {
    for (const f of ctx.params.files) {
      const name = ctx.params.renameOnRetry && ctx.attempt > 1 ? `${ctx.attempt}-${f.name}` : f.name;
      await pipeline(
        Readable.from([Buffer.from(f.text)]),
        ctx.outputs.create(name, f.contentType ? { contentType: f.contentType } : {}),
      );
    }
    if (ctx.params.leaveOpen) ctx.outputs.create(ctx.params.leaveOpen).write('half');
    if (ctx.attempt <= ctx.params.failAttempts) throw new RetryableError(`attempt ${ctx.attempt} fails`);
    if (ctx.params.failAfter) throw new Error('failed after writing');
    return { wrote: ctx.params.files.length };
  },
};

/**
 * `ctx.outputs` for handler unit tests: each output collected in memory (small test files only).
 * `files` maps a name to its text once its stream has finished.
 */
export function memoryOutputs(): JobOutputs & { files: Map<string, string>; types: Map<string, string> } {
  const files = new Map<string, string>();
  const types = new Map<string, string>();
  return {
    files,
    types,
    create(name, opts = {}) {
      const chunks: Buffer[] = [];
      types.set(name, opts.contentType ?? 'application/octet-stream');
      return new Writable({
        write(chunk: Buffer, _enc, done) {
          chunks.push(Buffer.from(chunk));
          done();
        },
        final(done) {
          files.set(name, Buffer.concat(chunks).toString('utf8'));
          done();
        },
      });
    },
  };
}
