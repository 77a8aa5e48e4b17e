import type { Readable } from 'node:stream';
import type { BlobStore, ByteRange, StoredBlob } from './blob-store.js';

/**
 * A blob store opened at its first use rather than at start. The processor Lambda is composed
 * with one around S3: a cold start whose first job has no input never loads the S3 client (a
 * fifth of its first event, BENCHMARKS.md `## lambda`); one whose job has an input loads it
 * then. Only the BlobStore port: direct uploads (MultipartUploads) belong to the API, which
 * opens its store at start.
 *
 * @example
 *   const blobs = new LazyBlobStore(() => openS3BlobStore(config, bucket), { hashedOnWrite: false });
 */
export class LazyBlobStore implements BlobStore {
  readonly hashedOnWrite: boolean;
  private opened?: Promise<BlobStore>;

  /** `hashedOnWrite` is the opened store's, known without opening it. */
  constructor(
    private readonly open: () => Promise<BlobStore>,
    opts: { hashedOnWrite: boolean },
  ) {
    this.hashedOnWrite = opts.hashedOnWrite;
  }

  private store(): Promise<BlobStore> {
    this.opened ??= this.open().catch((err: unknown) => {
      this.opened = undefined; // the next use tries again
      throw err;
    });
    return this.opened;
  }

  async put(key: string, body: Readable, opts: { maxBytes: number }): Promise<StoredBlob> {
    return (await this.store()).put(key, body, opts);
  }

  async get(key: string, range?: ByteRange): Promise<Readable> {
    return (await this.store()).get(key, range);
  }

  async delete(key: string): Promise<void> {
    return (await this.store()).delete(key);
  }

  async check(): Promise<void> {
    return (await this.store()).check();
  }
}
