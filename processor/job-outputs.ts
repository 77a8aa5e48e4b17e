import { PassThrough, Writable } from 'node:stream';
import type { Logger } from 'pino';
import type { BlobStore, StoredBlob } from '../core/blobs/blob-store.js';
import type { JobStore, Lease } from '../core/jobs/job-store.js';
import {
  contentTypeProblem,
  DEFAULT_OUTPUT_CONTENT_TYPE,
  MAX_OUTPUT_BYTES,
  MAX_OUTPUTS_PER_JOB,
  outputNameProblem,
} from '../core/jobs/outputs.js';
import { JobFailure, type JobOutputs } from './handler.js';

/** Bytes an output's stream buffers before the handler's writes wait for the blob store. */
const OUTPUT_BUFFER = 1024 * 1024;

/** The attempt no longer holds its job: what it writes is not recorded (and is removed). */
class LeaseLostError extends Error {}

/** One output being written: its stream, and the promise of its storing. */
interface Pending {
  name: string;
  stream: Writable;
  stored: Promise<StoredBlob>;
}

/**
 * An attempt's `ctx.outputs` (processor/handler.ts JobOutputs). Each output is recorded on the job
 * before its first byte goes to the blob store and listed once its last byte is there
 * (core/jobs/outputs.ts), so an attempt killed mid-write leaves nothing listed: only a record that
 * the next attempt (or retention) uses to delete what might be in the store.
 *
 * The handler's stream is a Writable whose `final` waits for the store and the record: `pipeline`
 * into it resolves once the output is listed. Writes wait (backpressure) while the store is slow.
 */
export class AttemptOutputs implements JobOutputs {
  private readonly pending: Pending[] = [];

  constructor(
    private readonly deps: { store: JobStore; blobs: BlobStore; logger: Logger },
    private readonly lease: Lease,
    private readonly maxBytes = MAX_OUTPUT_BYTES,
  ) {}

  /** Whether this attempt began any output (nothing else here does any I/O when none was). */
  get used(): boolean {
    return this.pending.length > 0;
  }

  create(name: string, opts: { contentType?: string } = {}): Writable {
    const problem =
      outputNameProblem(name) ?? contentTypeProblem(opts.contentType ?? DEFAULT_OUTPUT_CONTENT_TYPE);
    if (problem) throw new JobFailure(problem);
    if (this.pending.some((p) => p.name === name))
      throw new JobFailure(`output ${JSON.stringify(name)} was already created by this attempt`);
    if (this.pending.length >= MAX_OUTPUTS_PER_JOB)
      throw new JobFailure(`a job may write at most ${MAX_OUTPUTS_PER_JOB} outputs`);
    const contentType = opts.contentType ?? DEFAULT_OUTPUT_CONTENT_TYPE;

    const body = new PassThrough({ highWaterMark: OUTPUT_BUFFER });
    // Destroyed before the store began reading it (aborted early): the store's put reports it.
    body.on('error', () => {});
    const stored = this.store(name, contentType, body);
    const stream = new Writable({
      highWaterMark: OUTPUT_BUFFER,
      write(chunk: Buffer, _enc, done) {
        if (body.write(chunk)) done();
        else body.once('drain', () => done());
      },
      final(done) {
        body.end();
        stored.then(() => done(), done);
      },
      destroy(err, done) {
        // Not ended: the store's write is aborted and leaves nothing behind.
        if (!body.writableEnded) body.destroy(err ?? new Error(`output ${name} was aborted`));
        done(err);
      },
    });
    // The store failing (disk full, lease lost) fails the handler's next write or its `finished`.
    stored.catch((err: Error) => stream.destroy(err));
    // A handler that is no longer listening (it returned, or threw) must not crash the worker with
    // an unhandled 'error': what it would say is reported by settle() or the handler's own failure.
    stream.on('error', () => {});
    this.pending.push({ name, stream, stored });
    return stream;
  }

  private async store(name: string, contentType: string, body: PassThrough): Promise<StoredBlob> {
    const { store, blobs } = this.deps;
    const begun = await store.beginOutput(this.lease, { name, contentType });
    if (!begun) throw new LeaseLostError(`output ${name} not written: the attempt lost its job`);
    // Left by earlier attempts (a `jobs retry` keeps them recorded, unlisted, until now).
    await this.deleteBlobs(begun.staleKeys);
    const blob = await blobs.put(begun.key, body, { maxBytes: this.maxBytes });
    if (!(await store.finishOutput(this.lease, { key: begun.key, ...blob }))) {
      await this.deleteBlobs([begun.key]);
      throw new LeaseLostError(`output ${name} not kept: the attempt lost its job`);
    }
    return blob;
  }

  /**
   * After `run` returned: waits for every output to be stored. An output whose stream the handler
   * never ended is aborted, and the job fails: its file would be cut short.
   */
  async settle(): Promise<void> {
    const unfinished = this.pending.filter((p) => !p.stream.writableEnded && !p.stream.destroyed);
    if (unfinished.length > 0) {
      await this.abort();
      throw new JobFailure(
        `output ${unfinished[0].name} was not finished: end its stream (and wait for it) before run() returns`,
      );
    }
    for (const p of this.pending) await p.stored;
  }

  /** The handler failed: stops outputs still being written and waits until none is in flight. */
  async abort(): Promise<void> {
    for (const p of this.pending) {
      if (!p.stream.writableFinished)
        p.stream.destroy(new Error(`output ${p.name} aborted: the attempt ended`));
    }
    await Promise.allSettled(this.pending.map((p) => p.stored));
  }

  /**
   * The attempt failed and the job will run again (a retryable failure, a worker stopping): its
   * outputs are removed, from the job and from the blob store.
   */
  async discard(): Promise<void> {
    if (!this.used) return;
    await this.abort();
    await this.deleteBlobs(await this.deps.store.discardOutputs(this.lease, 'mine'));
  }

  /** The previous attempt died with its worker: every output recorded so far goes. */
  static async discardAll(
    deps: { store: JobStore; blobs: BlobStore; logger: Logger },
    lease: Lease,
  ): Promise<void> {
    const keys = await deps.store.discardOutputs(lease, 'all');
    await new AttemptOutputs(deps, lease).deleteBlobs(keys);
  }

  /** Best effort: a blob left behind is unlisted, and the S3 lifecycle rule for outputs/ ends it. */
  private async deleteBlobs(keys: readonly string[]): Promise<void> {
    for (const key of keys) {
      await this.deps.blobs.delete(key).catch((err: unknown) => {
        this.deps.logger.warn({ err, key, jobId: this.lease.jobId }, 'an output file could not be deleted');
      });
    }
  }
}
