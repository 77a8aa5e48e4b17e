import type { FileHandle } from 'node:fs/promises';
import { Readable } from 'node:stream';
import type { ByteRange } from './blob-store.js';
import { countReadBytes } from './stream-buffers.js';

/** Bytes per read: a fresh buffer of this size per chunk when the stream is read as a stream. */
export const FILE_CHUNK_BYTES = 256 * 1024;

/**
 * A file's bytes (or a range of them) as a stream that can also be read into the reader's own
 * memory: `readInto` is a bring-your-own-buffer read, as the web's BYOB readers are. Use one way
 * or the other on one stream, never both.
 *
 * Why: a stream hands over a fresh buffer for every chunk, malloc'd outside the JS heap and freed
 * only when the GC finds it dead. A 1 GiB import so allocated 4,096 buffers of 256 KiB, and how
 * far the dead ones piled up between two full collections set the embedded server's peak RSS (and
 * fragmented the allocator's heap). A reader that fills a few buffers of its own in turn
 * (read-chunks.ts) allocates nothing per chunk.
 */
export class FileReadStream extends Readable {
  private position: number;
  /** One past the last byte to read. */
  private readonly end: number;

  constructor(
    private readonly handle: FileHandle,
    range?: ByteRange,
    /** Size of a chunk read as a stream (and of the buffers read-chunks.ts reads into). */
    readonly chunkBytes = FILE_CHUNK_BYTES,
  ) {
    super({ highWaterMark: chunkBytes });
    this.position = range?.start ?? 0;
    this.end = range ? range.end + 1 : Infinity;
  }

  /** Reads the next bytes into `into` (as many as fit); 0 at the end. */
  async readInto(into: Uint8Array): Promise<number> {
    const length = Math.min(into.length, this.end - this.position);
    if (length <= 0) return 0;
    const { bytesRead } = await this.handle.read(into, 0, length, this.position);
    this.position += bytesRead;
    countReadBytes(bytesRead);
    return bytesRead;
  }

  override _read(): void {
    const chunk = Buffer.allocUnsafeSlow(Math.max(1, Math.min(this.chunkBytes, this.end - this.position)));
    this.readInto(chunk).then(
      (n) => this.push(n === 0 ? null : chunk.subarray(0, n)),
      (err: Error) => this.destroy(err),
    );
  }

  override _destroy(err: Error | null, done: (err?: Error | null) => void): void {
    this.handle.close().then(
      () => done(err),
      (closeErr: Error) => done(err ?? closeErr),
    );
  }
}
