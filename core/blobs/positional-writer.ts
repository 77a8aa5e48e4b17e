import fs from 'node:fs';
import { promisify } from 'node:util';
import { Writable } from 'node:stream';

/**
 * A Writable into an open file from byte `start` on, with up to `concurrency` writes in flight
 * at once (node's fs.WriteStream has one). Chunks are gathered into batches of `batchBytes`,
 * each written at its own position (`pwritev` on the thread pool), so the batches of one stream
 * land in the file side by side whatever order the writes finish in.
 *
 * Why: a direct upload's part is written into a new file, and on this project's machines (VMs
 * whose freed memory goes back to the host) the kernel's copy of each byte into a fresh page of
 * the page cache was the upload's largest cost: ~1.6 s of CPU per GiB in `copy_folio_from_iter`,
 * one thread at a time, while the event loop waited on it (BENCHMARKS.md, ingest). Two writes
 * in flight spread that copy over two cores. Written here: no maintained library does positional
 * parallel writes as a stream.
 *
 * The file descriptor stays the caller's to close, once `settled()` has resolved: a failed
 * pipeline() rejects as soon as a stream errs, while writes may still be in flight, and the
 * descriptor closed under them (or its number reused) would take their bytes.
 */
export class PositionalWriter extends Writable {
  private position: number;
  private batch: Buffer[] = [];
  private batchLength = 0;
  private readonly inFlight = new Set<Promise<void>>();
  private failure?: Error;
  /** The callback of a chunk held back while `concurrency` writes are in flight. */
  private waiting?: (err?: Error | null) => void;

  constructor(
    private readonly fd: number,
    start: number,
    private readonly opts: { batchBytes: number; concurrency: number },
  ) {
    super();
    this.position = start;
  }

  /** Resolves once the stream has closed: after its last write, whether it finished or failed. */
  settled(): Promise<void> {
    if (this.closed) return Promise.resolve();
    return new Promise((resolve) => this.once('close', () => resolve()));
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, done: (err?: Error | null) => void): void {
    if (this.failure) return done(this.failure);
    this.batch.push(chunk);
    this.batchLength += chunk.length;
    // Batched only while a write is in flight: bytes that find the file idle go down at once, so a
    // slow or stalled body is on disk as it arrives, not held here until a batch fills.
    if (this.batchLength < this.opts.batchBytes && this.inFlight.size > 0) return done();
    this.flush();
    if (this.inFlight.size < this.opts.concurrency) return done();
    this.waiting = done;
  }

  override _final(done: (err?: Error | null) => void): void {
    if (this.batchLength > 0) this.flush();
    Promise.all(this.inFlight).then(
      () => done(this.failure),
      (err: Error) => done(err),
    );
  }

  override _destroy(err: Error | null, done: (err?: Error | null) => void): void {
    // The file must not be written after the stream is gone (the caller may truncate it).
    Promise.allSettled(this.inFlight).then(() => done(err ?? this.failure));
  }

  private flush(): void {
    const buffers = this.batch;
    const at = this.position;
    this.position += this.batchLength;
    this.batch = [];
    this.batchLength = 0;
    const write = writeAll(this.fd, buffers, at).then(
      () => {
        this.inFlight.delete(write);
        // What gathered meanwhile goes down now rather than waiting for a next chunk.
        if (this.batchLength > 0 && !this.destroyed && !this.failure) this.flush();
        // A held-back chunk goes on only while there is room (the flush above may have taken it).
        if (this.inFlight.size < this.opts.concurrency) this.release();
      },
      (err: Error) => {
        this.inFlight.delete(write);
        this.failure ??= err;
        this.release();
      },
    );
    this.inFlight.add(write);
  }

  /** Lets the held-back chunk's writer go on, once a write has finished. */
  private release(): void {
    const done = this.waiting;
    this.waiting = undefined;
    done?.(this.failure);
  }
}

const writev = promisify(fs.writev);

/** `pwritev` of all of `buffers` at `position`, again for what a short write left. */
async function writeAll(fd: number, buffers: Buffer[], position: number): Promise<void> {
  let rest = buffers;
  let at = position;
  for (;;) {
    const { bytesWritten } = await writev(fd, rest, at);
    at += bytesWritten;
    let skip = bytesWritten;
    while (rest.length > 0 && skip >= rest[0].length) {
      skip -= rest[0].length;
      rest = rest.slice(1);
    }
    if (rest.length === 0) return;
    rest = [rest[0].subarray(skip), ...rest.slice(1)];
  }
}
