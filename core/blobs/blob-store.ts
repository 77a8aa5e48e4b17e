import { createHash, type Hash } from 'node:crypto';
import { Transform, type Readable, type TransformCallback } from 'node:stream';
import { PayloadTooLargeError, ValidationError } from '../errors.js';
import { countStreamedBytes, streamOpened } from './stream-buffers.js';

/** What the store measured while writing a blob. */
export interface StoredBlob {
  size: number;
  sha256: string;
}

/**
 * Where input files live: a directory (embedded) or S3 (production). Bodies stream both ways;
 * nothing is held whole in memory. Keys are chosen by the server (see `inputKey`).
 */
export interface BlobStore {
  /**
   * Streams `body` into `key`, counting bytes and hashing as it goes. Rejects with
   * PayloadTooLargeError past `maxBytes`, leaving nothing behind.
   */
  put(key: string, body: Readable, opts: { maxBytes: number }): Promise<StoredBlob>;
  /** The blob's bytes, or those of `range` (inclusive offsets, as HTTP's Range); NotFoundError when missing. */
  get(key: string, range?: ByteRange): Promise<Readable>;
  /** Removes the blob; a missing blob is not an error. */
  delete(key: string): Promise<void>;
  /** Throws when the store cannot be used (readiness probe). */
  check(): Promise<void>;
  /**
   * True when every blob's SHA-256 was computed from its bytes as this store wrote them (puts and
   * completed direct uploads alike), so a job reading its input need not hash it again. False
   * for S3: a direct upload goes from the client to S3 and never passes the API host.
   */
  readonly hashedOnWrite: boolean;
  /**
   * Crash recovery at start-up, for a store this process alone owns (the embedded data
   * directory): removes what a process that died mid-write left half-written. Optional: a shared
   * store (S3) has nothing of the kind.
   */
  recover?(): Promise<void>;
  /**
   * A short-lived URL that GETs the blob straight from the store (S3's presigned GET), so a
   * download's bytes skip the API host. Optional: the directory store has none (the API streams
   * the file itself).
   */
  downloadUrl?(key: string, opts: DownloadUrlOptions): Promise<string>;
}

/** A byte range, both ends inclusive (`bytes=start-end`). */
export interface ByteRange {
  start: number;
  end: number;
}

export interface DownloadUrlOptions {
  /** Seconds the URL stays valid. */
  expiresIn: number;
  /** Served as `Content-Disposition: attachment; filename=…`. */
  fileName: string;
  contentType: string;
}

/** The key prefix of one job's outputs (core/jobs/outputs.ts chooses the rest of the key). */
export function outputsPrefix(ownerId: string, jobId: string): string {
  return `outputs/${ownerId}/${jobId}/`;
}

/** The key of a job's input: per owner and job, never derived from the client's filename. */
export function inputKey(ownerId: string, jobId: string): string {
  return `inputs/${ownerId}/${jobId}`;
}

const SAFE_KEY = /^[A-Za-z0-9_-]+(\/[A-Za-z0-9_.-]+)*$/;

export function assertSafeKey(key: string): void {
  if (!SAFE_KEY.test(key) || key.split('/').some((part) => part === '.' || part === '..')) {
    throw new ValidationError(`invalid blob key ${JSON.stringify(key)}`);
  }
}

/**
 * A pass-through stream that counts and hashes the bytes it sees and fails with
 * PayloadTooLargeError once more than `maxBytes` have passed. Every adapter pipes uploads
 * through it so size limits and checksums behave the same everywhere.
 */
export class MeteredStream extends Transform {
  private readonly hash?: Hash;
  private readonly ownHash: boolean;
  /** Ends this stream's part in the process's streaming mode (stream-buffers.ts). */
  private readonly streamClosed: () => void;
  size = 0;

  /**
   * `hash: false` only counts; `hash: <a Hash>` feeds the bytes into a hash the caller keeps
   * (a direct upload's running SHA-256, continued across its parts: FsBlobStore.putPart).
   */
  constructor(
    private readonly maxBytes: number,
    opts: { hash?: boolean | Hash } = {},
  ) {
    super();
    this.streamClosed = streamOpened();
    const hash = opts.hash ?? true;
    this.ownHash = hash === true;
    this.hash = hash === true ? createHash('sha256') : hash === false ? undefined : hash;
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback): void {
    this.size += chunk.length;
    countStreamedBytes(chunk.length);
    if (this.size > this.maxBytes) {
      done(new PayloadTooLargeError(`file exceeds the upload limit of ${this.maxBytes} bytes`));
      return;
    }
    this.hash?.update(chunk);
    done(null, chunk);
  }

  // Called once the stream has ended or failed (autoDestroy), whichever way it goes.
  override _destroy(err: Error | null, done: (err?: Error | null) => void): void {
    this.streamClosed();
    done(err);
  }

  result(): StoredBlob {
    if (!this.hash || !this.ownHash) throw new Error('this MeteredStream has no hash of its own');
    return { size: this.size, sha256: this.hash.digest('hex') };
  }
}

/** `Content-Disposition` of a download named `fileName` (output names are plain ASCII: outputs.ts). */
export function attachment(fileName: string): string {
  return `attachment; filename="${fileName.replace(/["\\]/g, '_')}"`;
}
