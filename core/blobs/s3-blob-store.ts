import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  HeadObjectCommand,
  UploadPartCommand,
  CopyObjectCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  HeadBucketCommand,
  PutObjectCommand,
  type S3Client,
  type ServerSideEncryption,
} from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import { pipeline, Readable } from 'node:stream';
import { NotFoundError, ValidationError } from '../errors.js';
import {
  assertSafeKey,
  attachment,
  MeteredStream,
  type BlobStore,
  type ByteRange,
  type DownloadUrlOptions,
  type StoredBlob,
} from './blob-store.js';
import {
  partCount,
  partLength,
  type BeginOptions,
  type CompletedParts,
  type CompleteOptions,
  type MultipartUploads,
  type PartTarget,
} from './multipart-uploads.js';

const MiB = 1024 * 1024;
/** S3's floor for every part but the last. */
const MIN_PART_SIZE = 5 * MiB;
const MAX_PARTS = 10_000;
/** The largest object CopyObject accepts (used to attach the checksum to multipart objects). */
const MAX_COPY_BYTES = 5 * 1024 * MiB;

export interface S3BlobStoreOptions {
  /** Built by the caller from config (region; endpoint + forcePathStyle for emulators). */
  client: S3Client;
  bucket: string;
  /** Prepended verbatim to every key, e.g. `jobs/` (default none). */
  prefix?: string;
  /** Encrypt with this KMS key (SSE-KMS, bucket key on) instead of S3-managed keys (SSE-S3). */
  kmsKeyId?: string;
  /** Bytes per multipart part (default 8 MiB, at least 5 MiB). */
  partSize?: number;
  /** Parts uploaded concurrently (default 4). */
  queueSize?: number;
}

/**
 * Blobs in an S3 bucket (production). Uploads stream through a MeteredStream into a multipart
 * upload, so memory per upload is bounded by about `partSize × (queueSize + 1)` (default 40 MiB),
 * whatever the file size. Every object is encrypted at rest (SSE-S3, or SSE-KMS with `kmsKeyId`)
 * and carries its SHA-256 as `x-amz-meta-sha256`: a body of up to one part goes up as a single
 * PutObject with it; a multipart object gets it by a server-side copy onto itself once the hash is
 * known (skipped above CopyObject's 5 GiB limit).
 *
 * @example
 * const client = new S3Client({ region: config.awsRegion, endpoint: config.s3Endpoint, forcePathStyle: !!config.s3Endpoint });
 * const blobs = new S3BlobStore({ client, bucket: config.s3Bucket });
 */
export class S3BlobStore implements BlobStore, MultipartUploads {
  /** Direct uploads reach S3 without passing this process: their hash is checked on read. */
  readonly hashedOnWrite = false;
  private readonly client: S3Client;
  private readonly bucket: string;
  private readonly prefix: string;
  private readonly partSize: number;
  private readonly queueSize: number;
  private readonly encryption: {
    ServerSideEncryption: ServerSideEncryption;
    SSEKMSKeyId?: string;
    BucketKeyEnabled?: boolean;
  };

  constructor(opts: S3BlobStoreOptions) {
    this.client = opts.client;
    this.bucket = opts.bucket;
    this.prefix = opts.prefix ?? '';
    this.partSize = opts.partSize ?? 8 * MiB;
    this.queueSize = opts.queueSize ?? 4;
    if (this.partSize < MIN_PART_SIZE) throw new Error(`partSize must be at least ${MIN_PART_SIZE} bytes`);
    if (!Number.isInteger(this.queueSize) || this.queueSize < 1)
      throw new Error('queueSize must be at least 1');
    this.encryption = opts.kmsKeyId
      ? { ServerSideEncryption: 'aws:kms', SSEKMSKeyId: opts.kmsKeyId, BucketKeyEnabled: true }
      : { ServerSideEncryption: 'AES256' };
  }

  private keyOf(key: string): string {
    assertSafeKey(key);
    return `${this.prefix}${key}`;
  }

  async put(key: string, body: Readable, opts: { maxBytes: number }): Promise<StoredBlob> {
    const Key = this.keyOf(key);
    // A 5 TiB limit would need more than 10,000 parts of 8 MiB; grow parts rather than fail late.
    const partSize = Math.max(this.partSize, Math.ceil(opts.maxBytes / MAX_PARTS));
    const meter = new MeteredStream(opts.maxBytes);
    // The first error of the source or the meter (a client abort, PayloadTooLargeError) is the
    // cause to report, not whatever the SDK makes of the stream it was reading dying under it.
    let streamError: unknown;
    pipeline(body, meter, (err) => {
      streamError ??= err;
    });
    const chunks = meter[Symbol.asyncIterator]() as AsyncIterator<Buffer>;

    try {
      // Read up to one part first: a small body becomes one PutObject whose metadata can carry the
      // checksum, since S3 metadata is fixed before the body is sent.
      const head: Buffer[] = [];
      let headBytes = 0;
      let ended = false;
      while (headBytes <= partSize) {
        const next = await chunks.next();
        if (next.done) {
          ended = true;
          break;
        }
        head.push(next.value);
        headBytes += next.value.length;
      }

      if (ended) {
        const result = meter.result();
        await this.client.send(
          new PutObjectCommand({
            Bucket: this.bucket,
            Key,
            Body: Buffer.concat(head),
            ContentLength: headBytes,
            Metadata: { sha256: result.sha256 },
            ...this.encryption,
          }),
        );
        return result;
      }

      async function* rest(): AsyncGenerator<Buffer> {
        yield* head.splice(0);
        for (let next = await chunks.next(); !next.done; next = await chunks.next()) yield next.value;
      }
      // leavePartsOnError stays false: on any failure Upload sends AbortMultipartUpload before
      // done() rejects, so no parts are left behind (and billed).
      await new Upload({
        client: this.client,
        partSize,
        queueSize: this.queueSize,
        leavePartsOnError: false,
        params: { Bucket: this.bucket, Key, Body: Readable.from(rest()), ...this.encryption },
      }).done();

      const result = meter.result();
      if (result.size <= MAX_COPY_BYTES) {
        try {
          await this.attachChecksum(Key, result.sha256);
        } catch (err) {
          await this.delete(key).catch(() => {});
          throw err;
        }
      }
      return result;
    } catch (err) {
      meter.destroy();
      throw streamError ?? err;
    }
  }

  /** A multipart object's metadata is set before its bytes are seen; copying it onto itself replaces it. */
  private async attachChecksum(Key: string, sha256: string): Promise<void> {
    await this.client.send(
      new CopyObjectCommand({
        Bucket: this.bucket,
        Key,
        CopySource: `${this.bucket}/${Key.split('/').map(encodeURIComponent).join('/')}`,
        MetadataDirective: 'REPLACE',
        Metadata: { sha256 },
        ...this.encryption,
      }),
    );
  }

  async get(key: string, range?: ByteRange): Promise<Readable> {
    const Key = this.keyOf(key);
    const Range = range && `bytes=${range.start}-${range.end}`;
    try {
      const out = await this.client.send(new GetObjectCommand({ Bucket: this.bucket, Key, Range }));
      if (!(out.Body instanceof Readable)) throw new Error(`S3 returned no readable body for ${key}`);
      return out.Body;
    } catch (err) {
      if (isMissingKey(err)) throw new NotFoundError(`blob ${key} not found`, undefined, { cause: err });
      throw err;
    }
  }

  /**
   * A presigned GET of the object, answered by S3 as an attachment named `fileName` of type
   * `contentType` (response-content-* overrides, signed with the URL). S3 itself serves Range and
   * conditional requests on it. The URL is valid `expiresIn` seconds (or as long as the signing
   * credentials, when those are temporary and end sooner).
   */
  async downloadUrl(key: string, opts: DownloadUrlOptions): Promise<string> {
    return getSignedUrl(
      this.client,
      new GetObjectCommand({
        Bucket: this.bucket,
        Key: this.keyOf(key),
        ResponseContentDisposition: attachment(opts.fileName),
        ResponseContentType: opts.contentType,
      }),
      { expiresIn: opts.expiresIn },
    );
  }

  async delete(key: string): Promise<void> {
    // S3 answers 204 for a missing key too.
    await this.client.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: this.keyOf(key) }));
  }

  async check(): Promise<void> {
    try {
      await this.client.send(new HeadBucketCommand({ Bucket: this.bucket }));
    } catch (err) {
      throw new Error(`bucket ${this.bucket}: ${describeS3Failure(err)}`, { cause: err });
    }
  }

  // --- direct uploads -----------------------------------------------------------------------
  // The client PUTs parts straight to S3 with presigned UploadPart URLs; the API host never sees
  // the bytes. The object gets the same encryption as `put` and the declared SHA-256 as metadata;
  // the processor checks that hash while it reads the input (Sha256Check), since reading the
  // object back here just to hash it would cost the transfer the direct upload avoids.

  /** Parts go to S3 in parallel, in any order; the SHA-256 is checked as the processor reads. */
  readonly hashesPartsInOrder = false;

  partSizeFor(size: number): number {
    return Math.max(this.partSize, Math.ceil(size / MAX_PARTS));
  }

  async begin(key: string, opts: BeginOptions): Promise<{ storeUploadId: string; parts: PartTarget[] }> {
    const Key = this.keyOf(key);
    const created = await this.client.send(
      new CreateMultipartUploadCommand({ Bucket: this.bucket, Key, ...this.encryption }),
    );
    const UploadId = created.UploadId;
    if (!UploadId) throw new Error('S3 returned no UploadId');
    const expiresIn = Math.max(
      60,
      Math.min(7 * 24 * 3600, Math.floor((opts.expiresAt.getTime() - Date.now()) / 1000)),
    );
    const parts: PartTarget[] = [];
    for (let n = 1; n <= partCount(opts.size, opts.partSize); n++) {
      const url = await presignPart(this.client, {
        Bucket: this.bucket,
        Key,
        UploadId,
        PartNumber: n,
        ContentLength: partLength(opts.size, opts.partSize, n),
        expiresIn,
      });
      parts.push({ partNumber: n, url, method: 'PUT' });
    }
    return { storeUploadId: UploadId, parts };
  }

  async complete(key: string, opts: CompleteOptions): Promise<CompletedParts> {
    const Key = this.keyOf(key);
    if (!opts.storeUploadId) throw new Error('an S3 upload needs its UploadId');
    try {
      await this.client.send(
        new CompleteMultipartUploadCommand({
          Bucket: this.bucket,
          Key,
          UploadId: opts.storeUploadId,
          MultipartUpload: {
            Parts: opts.parts.map((p) => ({
              PartNumber: p.partNumber,
              ETag: p.etag.startsWith('"') ? p.etag : `"${p.etag}"`,
            })),
          },
        }),
      );
    } catch (err) {
      const status = (err as S3ErrorShape)?.$metadata?.httpStatusCode;
      if (status === 400 || status === 404) {
        throw new ValidationError(
          `the upload could not be completed: ${(err as S3ErrorShape).name ?? 'bad request'}`,
          undefined,
          {
            cause: err,
          },
        );
      }
      throw err;
    }
    const head = await this.client.send(new HeadObjectCommand({ Bucket: this.bucket, Key }));
    if (head.ContentLength !== opts.size) {
      await this.delete(key).catch(() => {});
      throw new ValidationError(
        `the uploaded parts hold ${head.ContentLength ?? 0} bytes, but ${opts.size} were declared`,
      );
    }
    // The bytes went from the client to S3: the declared SHA-256 is all there is.
    return { size: opts.size, sha256: null };
  }

  /** Drops the upload's parts; one S3 no longer knows (aborted or completed before) is no error. */
  async abort(key: string, opts: { storeUploadId: string | null }): Promise<void> {
    if (!opts.storeUploadId) return;
    try {
      await this.client.send(
        new AbortMultipartUploadCommand({
          Bucket: this.bucket,
          Key: this.keyOf(key),
          UploadId: opts.storeUploadId,
        }),
      );
    } catch (err) {
      if ((err as S3ErrorShape)?.name !== 'NoSuchUpload') throw err;
    }
  }
}

/**
 * A presigned UploadPart URL for exactly `ContentLength` bytes.
 *
 * - `content-length` is a signed header: S3 refuses a body of any other length, so a part URL
 *   cannot carry more than its share of the declared size (unsigned, it would take up to 5 GiB).
 *   The client must send that Content-Length (cli/lib/direct-upload.ts does; browsers do).
 * - No checksum is pinned: the SDK would otherwise compute a CRC32 of the (absent) body at
 *   signing time and put it in the URL (`x-amz-checksum-crc32=AAAAAA==`, the CRC of nothing),
 *   and S3 would refuse every real part with BadDigest. Parts are checked at completion (size)
 *   and when the processor reads the input (SHA-256).
 */
export async function presignPart(
  client: S3Client,
  part: {
    Bucket: string;
    Key: string;
    UploadId: string;
    PartNumber: number;
    ContentLength: number;
    expiresIn: number;
  },
): Promise<string> {
  const { expiresIn, ...input } = part;
  const command = new UploadPartCommand(input);
  command.middlewareStack.add(
    (next) => (args) => {
      const headers = (args.request as { headers?: Record<string, string> }).headers ?? {};
      for (const name of Object.keys(headers)) {
        const h = name.toLowerCase();
        if (h.startsWith('x-amz-checksum-') || h === 'x-amz-sdk-checksum-algorithm') delete headers[name];
      }
      return next(args);
    },
    // After the SDK's flexible-checksums middleware (same step, default priority), before signing.
    { step: 'build', priority: 'low', name: 'jobsDropPresignedChecksum' },
  );
  return getSignedUrl(client, command, { expiresIn, signableHeaders: new Set(['content-length']) });
}

interface S3ErrorShape {
  name?: string;
  code?: string;
  message?: string;
  $metadata?: { httpStatusCode?: number };
}

function isMissingKey(err: unknown): boolean {
  const e = err as S3ErrorShape;
  return e?.name === 'NoSuchKey' || (e?.$metadata?.httpStatusCode === 404 && e.name !== 'NoSuchBucket');
}

/** HEAD responses have no error body, so the status code is most of what there is to go on. */
function describeS3Failure(err: unknown): string {
  const e = err as S3ErrorShape;
  switch (e?.$metadata?.httpStatusCode) {
    case 404:
      return 'not found';
    case 403:
      return 'access denied';
    case 301:
    case 400:
      return 'wrong region or bad request';
  }
  const reason = e?.code ?? e?.name ?? 'error';
  const message = (e?.message ?? String(err)).split('\n')[0];
  return message && message !== reason ? `${reason}: ${message}` : reason;
}
