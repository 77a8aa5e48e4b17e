import { createHash } from 'node:crypto';
import { pipeline, Transform, type Readable, type TransformCallback } from 'node:stream';

/** Where and how a client sends one part of a direct upload (a presigned URL, like S3's). */
export interface PartTarget {
  partNumber: number;
  url: string;
  method: 'PUT';
  /** Headers the client must send with the part (none for the stores here). */
  headers?: Record<string, string>;
}

export interface BeginOptions {
  /** The upload's id (the fs store signs its part URLs with it). */
  uploadId: string;
  /** Declared total size in bytes. */
  size: number;
  partSize: number;
  /** When the part URLs stop working. */
  expiresAt: Date;
  /** Base URL of this API (JOBS_PUBLIC_URL, else its own address; never the client's Host header), for stores whose part URLs are on the API. */
  apiBaseUrl: string;
}

export interface CompleteOptions {
  uploadId: string;
  storeUploadId: string | null;
  /** Every part, in order, with the ETag its PUT answered. */
  parts: { partNumber: number; etag: string }[];
  /** Declared size. */
  size: number;
  /**
   * The declared SHA-256 (when the upload began, or now). Optional where the store hashes the
   * bytes itself (`hashesPartsInOrder`): then the store's own hash is the file's.
   */
  sha256?: string;
}

/** What a completion assembled. `sha256`: the store's own hash of the bytes, when it has one. */
export interface CompletedParts {
  size: number;
  sha256: string | null;
}

/**
 * Multipart sessions for direct uploads: the client PUTs parts to presigned URLs, the server
 * completes. Implemented by both blob stores, so the CLI has one code path.
 *
 * @example
 * const { storeUploadId, parts } = await blobs.begin(key, { uploadId, size, partSize, expiresAt, apiBaseUrl });
 * // … client PUTs each part, keeping each answer's ETag …
 * await blobs.complete(key, { uploadId, storeUploadId, parts: [{ partNumber: 1, etag }], size, sha256 });
 */
export interface MultipartUploads {
  /** The part size to use for a file of `size` bytes. */
  partSizeFor(size: number): number;
  /**
   * True when the store hashes a direct upload's parts as they arrive, as long as they arrive one
   * at a time and in order (the directory store): a client sending them so spares the completion
   * a second pass over the bytes. Parts sent in parallel or out of order are accepted all the
   * same, and hashed at completion. Either way the store knows the file's SHA-256 itself, so the
   * client need not declare one. False for S3 (parts go in parallel, the API never sees them, and
   * the client's declared SHA-256 is required).
   */
  readonly hashesPartsInOrder: boolean;
  begin(key: string, opts: BeginOptions): Promise<{ storeUploadId: string | null; parts: PartTarget[] }>;
  /**
   * Assembles the parts into `key` and checks the result against the declared size (and, where
   * the store hashes the bytes itself, against the declared SHA-256 if there is one). Throws
   * ValidationError on a mismatch, leaving nothing under `key`.
   */
  complete(key: string, opts: CompleteOptions): Promise<CompletedParts>;
  /** Drops an unfinished upload's parts. */
  abort(key: string, opts: { uploadId: string; storeUploadId: string | null }): Promise<void>;
}

/**
 * A store whose part URLs point at the API itself (the directory store): the API receives the
 * parts (`PUT /api/uploads/:id/parts/:n`) and hands them to it. S3's part URLs go to S3.
 */
export interface ReceivesParts {
  verifyPartUrl(uploadId: string, partNumber: number, expires: string, signature: string): Promise<void>;
  /**
   * Stores part `partNumber`, whose bytes start at `offset` of the file (`(n - 1) × partSize`),
   * at most `maxBytes` of them (its share); answers the ETag to complete with.
   */
  putPart(
    uploadId: string,
    partNumber: number,
    body: Readable,
    opts: { offset: number; maxBytes: number },
  ): Promise<{ etag: string; size: number }>;
}

export function receivesParts(store: object): store is ReceivesParts {
  const s = store as Partial<ReceivesParts>;
  return typeof s.verifyPartUrl === 'function' && typeof s.putPart === 'function';
}

export function supportsMultipart(store: object): store is MultipartUploads {
  const s = store as Partial<MultipartUploads>;
  return typeof s.begin === 'function' && typeof s.complete === 'function' && typeof s.abort === 'function';
}

export const MiB = 1024 * 1024;

/** Number of parts of `partSize` covering `size` bytes (at least one). */
export function partCount(size: number, partSize: number): number {
  return Math.max(1, Math.ceil(size / partSize));
}

/** Bytes in part `n` (1-based). */
export function partLength(size: number, partSize: number, n: number): number {
  return Math.max(0, Math.min(partSize, size - (n - 1) * partSize));
}

/** Thrown (as the stream error) when an input's bytes do not hash to the recorded SHA-256. */
export class ChecksumMismatchError extends Error {
  override name = 'ChecksumMismatchError';
}

/**
 * A pass-through that hashes what flows and fails at the end if the digest is not `sha256`.
 * The processor reads direct uploads through it: an S3 object is never read back just to hash it,
 * the job's own read is the check.
 */
export class Sha256Check extends Transform {
  private readonly hash = createHash('sha256');
  constructor(private readonly expected: string) {
    super();
  }
  override _transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback): void {
    this.hash.update(chunk);
    done(null, chunk);
  }
  override _flush(done: TransformCallback): void {
    const actual = this.hash.digest('hex');
    if (actual !== this.expected) {
      done(
        new ChecksumMismatchError(
          `the input's SHA-256 is ${actual}, but ${this.expected} was declared; the upload is corrupt`,
        ),
      );
      return;
    }
    done();
  }
}

/** `source` read through a Sha256Check; destroying either end tears down both. */
export function checkedInput(source: Readable, sha256: string): Readable {
  const check = new Sha256Check(sha256);
  pipeline(source, check, () => {});
  return check;
}
