import { createHash, createHmac, randomBytes, randomUUID, timingSafeEqual } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { PassThrough, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { ForbiddenError, InsufficientStorageError, NotFoundError, ValidationError } from '../errors.js';
import { mkdirPrivate, PRIVATE_DIR_MODE, PRIVATE_FILE_MODE } from '../private-files.js';
import { assertSafeKey, MeteredStream, type BlobStore, type StoredBlob } from './blob-store.js';
import {
  MiB,
  partCount,
  type BeginOptions,
  type CompleteOptions,
  type MultipartUploads,
  type PartTarget,
} from './multipart-uploads.js';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** What check() writes, once the disk was found full, to tell whether space is back. */
const SPACE_PROBE_BYTES = MiB;

/**
 * Blobs as files under one directory (the embedded default, `<data-dir>/blobs`). A blob is
 * written to a temporary name and renamed into place, so a crash never leaves a half file under
 * a real key. Everything it creates is its user's alone (directories 0700, files 0600), whatever
 * the process's umask: inputs are users' data.
 */
export class FsBlobStore implements BlobStore, MultipartUploads {
  /** put() hashes as it writes; a direct upload is hashed as its parts are assembled. */
  readonly hashedOnWrite = true;
  private secret?: Buffer;
  private readonly partSize: number;
  /** When a write last failed with ENOSPC; cleared by the next write that succeeds (or check()'s probe). */
  private outOfSpaceSince?: Date;

  /**
   * @param opts.partSize bytes per part of a direct upload (default 8 MiB)
   */
  constructor(
    private readonly root: string,
    opts: { partSize?: number } = {},
  ) {
    this.partSize = opts.partSize ?? 8 * MiB;
  }

  private pathOf(key: string): string {
    assertSafeKey(key);
    return path.join(this.root, ...key.split('/'));
  }

  put(key: string, body: Readable, opts: { maxBytes: number }): Promise<StoredBlob> {
    return this.writing(() => this.write(key, body, opts));
  }

  private async write(key: string, body: Readable, opts: { maxBytes: number }): Promise<StoredBlob> {
    const file = this.pathOf(key);
    await mkdirPrivate(path.dirname(file));
    const tmp = path.join(this.root, '.tmp', randomUUID());
    await mkdirPrivate(path.dirname(tmp));
    const meter = new MeteredStream(opts.maxBytes);
    try {
      await pipeline(body, meter, fs.createWriteStream(tmp, { flags: 'wx', mode: PRIVATE_FILE_MODE }));
      await fs.promises.rename(tmp, file);
    } catch (err) {
      await fs.promises.rm(tmp, { force: true });
      throw err;
    }
    return meter.result();
  }

  async get(key: string): Promise<Readable> {
    const file = this.pathOf(key);
    // Open eagerly so a missing blob fails here, not later in the middle of a handler.
    const handle = await fs.promises.open(file, 'r').catch((err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOENT') throw new NotFoundError(`blob ${key} not found`);
      throw err;
    });
    return handle.createReadStream({ highWaterMark: 256 * 1024 });
  }

  async delete(key: string): Promise<void> {
    await fs.promises.rm(this.pathOf(key), { force: true });
  }

  async check(): Promise<void> {
    await mkdirPrivate(this.root);
    await fs.promises.access(this.root, fs.constants.W_OK);
    if (this.outOfSpaceSince) await this.probeSpace(this.outOfSpaceSince);
  }

  /**
   * Runs a write; one that fails for want of space becomes InsufficientStorageError (507) and
   * marks the store full for check() (so /readyz says so), until a write succeeds again.
   */
  private async writing<T>(work: () => Promise<T>): Promise<T> {
    try {
      const result = await work();
      this.outOfSpaceSince = undefined;
      return result;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOSPC') throw err;
      this.outOfSpaceSince ??= new Date();
      throw new InsufficientStorageError(
        'the server is out of storage space: nothing was kept; try again later',
        undefined,
        { cause: err },
      );
    }
  }

  /**
   * The store ran out of space at `since`: writes a probe file (and removes it) to tell whether
   * space is back (nothing else would clear the mark while a load balancer keeps traffic away).
   */
  private async probeSpace(since: Date): Promise<void> {
    const probe = path.join(this.root, '.tmp', `.space-probe-${randomUUID()}`);
    try {
      await fs.promises.mkdir(path.dirname(probe), { recursive: true });
      await fs.promises.writeFile(probe, Buffer.alloc(SPACE_PROBE_BYTES), { flag: 'wx' });
      this.outOfSpaceSince = undefined;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOSPC') throw err;
      throw new Error(`no space left on the device (writes fail with ENOSPC since ${since.toISOString()})`);
    } finally {
      await fs.promises.rm(probe, { force: true });
    }
  }

  /**
   * Removes temporary files left by a crash mid-upload (called at start-up). Also closes the
   * root to other users: blobs an older version stored readable by all are then out of their
   * reach too, without visiting every file.
   */
  async recover(): Promise<void> {
    await fs.promises.rm(path.join(this.root, '.tmp'), { recursive: true, force: true });
    await mkdirPrivate(this.root);
    await fs.promises.chmod(this.root, PRIVATE_DIR_MODE);
  }

  // --- direct uploads -----------------------------------------------------------------------
  // Part URLs point at the API itself (`PUT /api/uploads/:id/parts/:n?expires=&signature=`),
  // signed with an HMAC key kept in `<root>/.upload-secret` (created on first use, mode 0600), so
  // the client treats them exactly like S3's presigned URLs: no bearer token, the URL is the
  // credential. Parts go to `<root>/.uploads/<uploadId>/` (outside any key: keys never start with
  // a dot), and survive a restart like S3's parts do.

  partSizeFor(size: number): number {
    return Math.max(this.partSize, Math.ceil(size / 10_000));
  }

  async begin(_key: string, opts: BeginOptions): Promise<{ storeUploadId: null; parts: PartTarget[] }> {
    await mkdirPrivate(this.partsDir(opts.uploadId));
    const secret = await this.uploadSecret();
    const expires = Math.floor(opts.expiresAt.getTime() / 1000);
    const parts: PartTarget[] = [];
    for (let n = 1; n <= partCount(opts.size, opts.partSize); n++) {
      const signature = sign(secret, opts.uploadId, n, expires);
      parts.push({
        partNumber: n,
        method: 'PUT',
        url: `${opts.apiBaseUrl}/api/uploads/${opts.uploadId}/parts/${n}?expires=${expires}&signature=${signature}`,
      });
    }
    return { storeUploadId: null, parts };
  }

  /** Checks a part URL's signature and expiry; throws ForbiddenError when either is wrong. */
  async verifyPartUrl(
    uploadId: string,
    partNumber: number,
    expires: string,
    signature: string,
  ): Promise<void> {
    const secret = await this.uploadSecret();
    const exp = Number(expires);
    const expected = Buffer.from(sign(secret, uploadId, partNumber, exp));
    const given = Buffer.from(String(signature));
    if (!Number.isInteger(exp) || given.length !== expected.length || !timingSafeEqual(given, expected)) {
      throw new ForbiddenError('invalid upload URL signature');
    }
    if (exp * 1000 < Date.now()) throw new ForbiddenError('the upload URL has expired');
  }

  /**
   * Streams one part to disk (at most `maxBytes`), answering its ETag (the part's MD5, as S3).
   * A part sent again replaces the earlier one.
   */
  putPart(
    uploadId: string,
    partNumber: number,
    body: Readable,
    maxBytes: number,
  ): Promise<{ etag: string; size: number }> {
    return this.writing(() => this.writePart(uploadId, partNumber, body, maxBytes));
  }

  private async writePart(
    uploadId: string,
    partNumber: number,
    body: Readable,
    maxBytes: number,
  ): Promise<{ etag: string; size: number }> {
    const dir = this.partsDir(uploadId);
    if (!fs.existsSync(dir)) throw new NotFoundError(`upload ${uploadId} not found or already completed`);
    const tmp = path.join(dir, `.${randomUUID()}`);
    // Counted, not hashed: completion hashes the assembled file, and the MD5 below is the ETag.
    const meter = new MeteredStream(maxBytes, { hash: false });
    const md5 = createHash('md5');
    const tap = new PassThrough();
    tap.on('data', (c: Buffer) => md5.update(c));
    try {
      await pipeline(body, meter, tap, fs.createWriteStream(tmp, { flags: 'wx', mode: PRIVATE_FILE_MODE }));
      const etag = md5.digest('hex');
      for (const old of await fs.promises.readdir(dir)) {
        if (old.startsWith(`${partNumber}-`)) await fs.promises.rm(path.join(dir, old), { force: true });
      }
      await fs.promises.rename(tmp, path.join(dir, `${partNumber}-${etag}`));
      return { etag, size: meter.size };
    } catch (err) {
      await fs.promises.rm(tmp, { force: true });
      throw err;
    }
  }

  complete(key: string, opts: CompleteOptions): Promise<{ size: number; sha256Verified: boolean }> {
    return this.writing(() => this.assemble(key, opts));
  }

  private async assemble(
    key: string,
    opts: CompleteOptions,
  ): Promise<{ size: number; sha256Verified: boolean }> {
    const dir = this.partsDir(opts.uploadId);
    const files = opts.parts.map((p, i) => {
      if (p.partNumber !== i + 1)
        throw new ValidationError('parts must be listed in order, from 1, without gaps');
      const etag = p.etag.replace(/"/g, '');
      if (!/^[0-9a-f]{32}$/.test(etag)) throw new ValidationError(`part ${p.partNumber}: invalid etag`);
      return path.join(dir, `${p.partNumber}-${etag}`);
    });
    for (const [i, f] of files.entries()) {
      if (!fs.existsSync(f))
        throw new ValidationError(`part ${i + 1} was not uploaded (or its etag is wrong)`);
    }
    const file = this.pathOf(key);
    await mkdirPrivate(path.dirname(file));
    const tmp = path.join(this.root, '.tmp', randomUUID());
    await mkdirPrivate(path.dirname(tmp));
    try {
      const got = await concatenate(files, tmp, opts.size);
      if (got.size !== opts.size) {
        throw new ValidationError(
          `the uploaded parts hold ${got.size} bytes, but ${opts.size} were declared`,
        );
      }
      if (got.sha256 !== opts.sha256) {
        throw new ValidationError(
          `the uploaded bytes have SHA-256 ${got.sha256}, but ${opts.sha256} was declared`,
        );
      }
      await fs.promises.rename(tmp, file);
    } catch (err) {
      await fs.promises.rm(tmp, { force: true });
      await this.abort(key, opts);
      throw err;
    }
    await this.abort(key, opts);
    return { size: opts.size, sha256Verified: true };
  }

  async abort(_key: string, opts: { uploadId: string }): Promise<void> {
    await fs.promises.rm(this.partsDir(opts.uploadId), { recursive: true, force: true });
  }

  private partsDir(uploadId: string): string {
    if (!UUID.test(uploadId)) throw new NotFoundError(`upload ${uploadId} not found`);
    return path.join(this.root, '.uploads', uploadId.toLowerCase());
  }

  private async uploadSecret(): Promise<Buffer> {
    if (this.secret) return this.secret;
    const file = path.join(this.root, '.upload-secret');
    await mkdirPrivate(this.root);
    try {
      await fs.promises.writeFile(file, randomBytes(32).toString('hex'), { flag: 'wx', mode: 0o600 });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    this.secret = Buffer.from((await fs.promises.readFile(file, 'utf8')).trim(), 'hex');
    return this.secret;
  }
}

/**
 * Copies `files`, one after another, into a new file `dest`, hashing the bytes as they pass;
 * fails once more than `maxBytes` would be written.
 *
 * A plain read/write loop through one buffer, not streams: a stream allocates a fresh buffer per
 * chunk, and the GC frees those only when it next runs, so assembling 1 GiB that way left tens
 * of MB of dead buffers in the embedded server's memory at its peak (BENCHMARKS.md, ingest).
 */
async function concatenate(files: string[], dest: string, maxBytes: number): Promise<StoredBlob> {
  const hash = createHash('sha256');
  const buffer = Buffer.allocUnsafe(MiB);
  let size = 0;
  const out = await fs.promises.open(dest, 'wx', PRIVATE_FILE_MODE);
  try {
    for (const file of files) {
      const part = await fs.promises.open(file, 'r');
      try {
        for (;;) {
          const { bytesRead } = await part.read(buffer, 0, buffer.length, null);
          if (bytesRead === 0) break;
          size += bytesRead;
          if (size > maxBytes) {
            throw new ValidationError(`the uploaded parts hold more than the declared ${maxBytes} bytes`);
          }
          hash.update(buffer.subarray(0, bytesRead));
          // A write may take fewer bytes than offered (rare for files, but allowed).
          for (let done = 0; done < bytesRead;) {
            done += (await out.write(buffer, done, bytesRead - done)).bytesWritten;
          }
        }
      } finally {
        await part.close();
      }
    }
  } finally {
    await out.close();
  }
  return { size, sha256: hash.digest('hex') };
}

function sign(secret: Buffer, uploadId: string, partNumber: number, expires: number): string {
  return createHmac('sha256', secret)
    .update(`${uploadId.toLowerCase()}\n${partNumber}\n${expires}`)
    .digest('hex');
}
