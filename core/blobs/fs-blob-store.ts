import { createHash, createHmac, randomBytes, randomUUID, timingSafeEqual, type Hash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import {
  ConflictError,
  ForbiddenError,
  InsufficientStorageError,
  NotFoundError,
  ValidationError,
} from '../errors.js';
import { mkdirPrivate, PRIVATE_DIR_MODE, PRIVATE_FILE_MODE } from '../private-files.js';
import {
  assertSafeKey,
  MeteredStream,
  type BlobStore,
  type ByteRange,
  type StoredBlob,
} from './blob-store.js';
import {
  MiB,
  partCount,
  type BeginOptions,
  type CompletedParts,
  type CompleteOptions,
  type MultipartUploads,
  type PartTarget,
} from './multipart-uploads.js';
import { FileReadStream } from './file-read-stream.js';
import { PositionalWriter } from './positional-writer.js';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** A direct upload's bytes, in its directory under `.uploads/`, until completion renames it. */
const DATA_FILE = 'data';

/**
 * A part's bytes go to its file in writes of this size (one `pwritev` of the socket's chunks),
 * two at a time (PositionalWriter: the copy into fresh page-cache pages is the upload's largest
 * cost, and two writes spread it over two cores).
 */
const WRITE_BATCH = 1024 * 1024;
const WRITES_IN_FLIGHT = 2;

/** A direct upload's SHA-256 over its first `upto` bytes, fed by parts that arrived in order. */
interface RunningHash {
  hash: Hash;
  upto: number;
  /** The ETag of each part hashed, in order: completion uses the hash only for these parts. */
  etags: string[];
  /** A part is being hashed as it arrives. */
  busy: boolean;
}

/** What check() writes, once the disk was found full, to tell whether space is back. */
const SPACE_PROBE_BYTES = MiB;

/**
 * Blobs as files under one directory (the embedded default, `<data-dir>/blobs`). A blob is
 * written to a temporary name and renamed into place, so a crash never leaves a half file under
 * a real key. Everything it creates is its user's alone (directories 0700, files 0600), whatever
 * the process's umask: inputs are users' data.
 */
export class FsBlobStore implements BlobStore, MultipartUploads {
  /** put() hashes as it writes; a direct upload is hashed as its parts arrive, or at completion. */
  readonly hashedOnWrite = true;
  private secret?: Buffer;
  private readonly partSize: number;
  /** When a write last failed with ENOSPC; cleared by the next write that succeeds (or check()'s probe). */
  private outOfSpaceSince?: Date;
  /**
   * Running hashes of direct uploads, by upload id. In memory only: this process owns the
   * directory (a restart loses them, and completion then hashes the whole file).
   */
  private readonly hashes = new Map<string, RunningHash>();
  /** Parts being received (`<uploadId>/<n>`), so the same part sent twice at once is refused. */
  private readonly receiving = new Set<string>();

  /**
   * @param opts.partSize bytes per part of a direct upload (default 64 MiB: parts here cost a
   *   request each, not parallelism, and the signed part URLs count against the caller's rate limit)
   */
  constructor(
    private readonly root: string,
    opts: { partSize?: number } = {},
  ) {
    this.partSize = opts.partSize ?? 64 * MiB;
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

  async get(key: string, range?: ByteRange): Promise<Readable> {
    const file = this.pathOf(key);
    // Open eagerly so a missing blob fails here, not later in the middle of a handler.
    const handle = await fs.promises.open(file, 'r').catch((err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOENT') throw new NotFoundError(`blob ${key} not found`);
      throw err;
    });
    return new FileReadStream(handle, range);
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
  // credential. An upload lives in `<root>/.uploads/<uploadId>/` (outside any key: keys never
  // start with a dot) and survives a restart like S3's parts do: one file, `data`, into which each
  // part is written in place at its offset, and per part received a marker file `<n>` holding
  // "<size> <etag>" of its last complete write. Completion renames `data` to the key: the bytes
  // cross the disk once.
  //
  // The SHA-256 is computed once. Parts that arrive one at a time and in order (as the CLI sends
  // them here: `hashesPartsInOrder`) feed one running hash as they are written, kept in memory per
  // upload; completion then only compares. Whatever that hash does not cover (parts sent in
  // parallel or out of order, a part sent again, a restart in between) is read back and hashed at
  // completion. The ETag is a random tag of the write, not the part's MD5 as S3's: an MD5 of every
  // byte would cost more than the rest of the upload (~300 MB/s), and the SHA-256 already covers
  // the content; the tag only ties the completion to the last write of each part.

  readonly hashesPartsInOrder = true;

  partSizeFor(size: number): number {
    return Math.max(this.partSize, Math.ceil(size / 10_000));
  }

  async begin(_key: string, opts: BeginOptions): Promise<{ storeUploadId: null; parts: PartTarget[] }> {
    const dir = this.partsDir(opts.uploadId);
    await mkdirPrivate(dir);
    await (await fs.promises.open(path.join(dir, DATA_FILE), 'w', PRIVATE_FILE_MODE)).close();
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
   * Streams one part into the upload's file at `offset` (at most `maxBytes`), answering a fresh
   * ETag. A part sent again replaces the earlier one: its marker goes before its bytes are
   * overwritten, so completing with the old ETag fails instead of using half-new bytes. The same
   * part sent twice at once is refused (409): both would write the same bytes of the file.
   */
  putPart(
    uploadId: string,
    partNumber: number,
    body: Readable,
    opts: { offset: number; maxBytes: number },
  ): Promise<{ etag: string; size: number }> {
    return this.writing(() => this.writePart(uploadId, partNumber, body, opts));
  }

  private async writePart(
    uploadId: string,
    partNumber: number,
    body: Readable,
    { offset, maxBytes }: { offset: number; maxBytes: number },
  ): Promise<{ etag: string; size: number }> {
    const dir = this.partsDir(uploadId);
    const id = uploadId.toLowerCase();
    const receiving = `${id}/${partNumber}`;
    if (this.receiving.has(receiving)) {
      throw new ConflictError(`part ${partNumber} of upload ${uploadId} is being uploaded already`);
    }
    this.receiving.add(receiving);
    let running: RunningHash | undefined;
    try {
      if (!fs.existsSync(path.join(dir, DATA_FILE)))
        throw new NotFoundError(`upload ${uploadId} not found or already completed`);
      running = this.hashPartInOrder(id, offset);
      // Synchronous, like the checks above: the body is piped on in this same tick, so an error
      // it emits (the client gone) always has a listener.
      fs.rmSync(path.join(dir, String(partNumber)), { force: true });
      const meter = new MeteredStream(maxBytes, { hash: running?.hash ?? false });
      const fd = fs.openSync(path.join(dir, DATA_FILE), 'r+');
      const writer = new PositionalWriter(fd, offset, {
        batchBytes: WRITE_BATCH,
        concurrency: WRITES_IN_FLIGHT,
      });
      try {
        await pipeline(body, meter, writer);
      } finally {
        // Not before its writes in flight are done (a failed pipeline rejects at once): they would
        // land after cutBack below, or in whatever file reuses the descriptor's number.
        await writer.settled();
        fs.closeSync(fd);
      }
      const etag = randomBytes(16).toString('hex');
      const marker = path.join(dir, `.${randomUUID()}`);
      await fs.promises.writeFile(marker, `${meter.size} ${etag}`, { flag: 'wx', mode: PRIVATE_FILE_MODE });
      await fs.promises.rename(marker, path.join(dir, String(partNumber)));
      if (running) {
        running.upto += meter.size;
        running.etags.push(etag);
        running.busy = false;
      }
      return { etag, size: meter.size };
    } catch (err) {
      // Its hash took in bytes that are not (all) in the file now: completion starts over.
      if (running && this.hashes.get(id) === running) this.hashes.delete(id);
      await cutBack(path.join(dir, DATA_FILE), offset, maxBytes);
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
        throw new NotFoundError(`upload ${uploadId} not found or already completed`, undefined, {
          cause: err,
        });
      }
      throw err;
    } finally {
      this.receiving.delete(receiving);
    }
  }

  /**
   * The running hash a part starting at `offset` continues, marked busy; undefined when the part
   * does not extend it (out of order, or while another part is being hashed). Part 1 starts a new
   * one; a part sent again inside what was hashed makes the hash useless, so it is dropped.
   */
  private hashPartInOrder(id: string, offset: number): RunningHash | undefined {
    let running = this.hashes.get(id);
    if (offset === 0) {
      running = { hash: createHash('sha256'), upto: 0, etags: [], busy: false };
      this.hashes.set(id, running);
    } else if (running && offset < running.upto) {
      this.hashes.delete(id);
      return undefined;
    }
    if (!running || running.busy || offset !== running.upto) return undefined;
    running.busy = true;
    return running;
  }

  complete(key: string, opts: CompleteOptions): Promise<CompletedParts> {
    return this.writing(() => this.assemble(key, opts));
  }

  private async assemble(key: string, opts: CompleteOptions): Promise<CompletedParts> {
    const dir = this.partsDir(opts.uploadId);
    const id = opts.uploadId.toLowerCase();
    if (!fs.existsSync(dir))
      throw new NotFoundError(`upload ${opts.uploadId} not found or already completed`);
    const etags = opts.parts.map((p, i) => {
      if (p.partNumber !== i + 1)
        throw new ValidationError('parts must be listed in order, from 1, without gaps');
      const etag = p.etag.replace(/"/g, '');
      if (!/^[0-9a-f]{32}$/.test(etag)) throw new ValidationError(`part ${p.partNumber}: invalid etag`);
      return etag;
    });
    let sha256: string;
    try {
      let size = 0;
      for (const [i, etag] of etags.entries()) {
        const marker = await readMarker(dir, i + 1);
        if (marker?.etag !== etag)
          throw new ValidationError(`part ${i + 1} was not uploaded (or its etag is wrong)`);
        size += marker.size;
      }
      if (size > opts.size)
        throw new ValidationError(`the uploaded parts hold more than the declared ${opts.size} bytes`);
      if (size < opts.size) {
        throw new ValidationError(`the uploaded parts hold ${size} bytes, but ${opts.size} were declared`);
      }
      const data = path.join(dir, DATA_FILE);
      // A part sent again shorter than before (only the last can be) leaves stale bytes past the end.
      await fs.promises.truncate(data, opts.size);
      const running = this.hashes.get(id);
      this.hashes.delete(id);
      const usable = running && !running.busy && running.etags.every((e, i) => etags[i] === e);
      const hash = usable ? running.hash : createHash('sha256');
      await hashRange(data, usable ? running.upto : 0, opts.size, hash);
      sha256 = hash.digest('hex');
      if (opts.sha256 !== undefined && sha256 !== opts.sha256) {
        throw new ValidationError(
          `the uploaded bytes have SHA-256 ${sha256}, but ${opts.sha256} was declared`,
        );
      }
      const file = this.pathOf(key);
      await mkdirPrivate(path.dirname(file));
      await fs.promises.rename(data, file);
    } finally {
      // Done or refused, the upload is over: a failed check discards it (the client starts again).
      await this.abort(key, opts);
    }
    return { size: opts.size, sha256 };
  }

  async abort(_key: string, opts: { uploadId: string }): Promise<void> {
    this.hashes.delete(opts.uploadId.toLowerCase());
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
 * Feeds bytes [from, to) of `file` into `hash`. A plain read loop through one buffer, not a
 * stream: a stream allocates a fresh buffer per chunk, and the GC frees those only when it next
 * runs, so reading 1 GiB that way left tens of MB of dead buffers in the embedded server's memory
 * at its peak (BENCHMARKS.md, ingest).
 */
async function hashRange(file: string, from: number, to: number, hash: Hash): Promise<void> {
  if (from >= to) return;
  const buffer = Buffer.allocUnsafe(MiB);
  const handle = await fs.promises.open(file, 'r');
  try {
    for (let at = from; at < to;) {
      const { bytesRead } = await handle.read(buffer, 0, Math.min(buffer.length, to - at), at);
      if (bytesRead === 0) throw new ValidationError(`the uploaded file ends at ${at} bytes, before ${to}`);
      hash.update(buffer.subarray(0, bytesRead));
      at += bytesRead;
    }
  } finally {
    await handle.close();
  }
}

/**
 * A part that failed midway leaves its bytes in the upload's file (without a marker they do not
 * count): the file is cut back to where the part began, when nothing past the part's share was
 * written (a later part), the usual case of parts sent in order. Otherwise they stay until the
 * part is sent again, or the upload completes or expires.
 */
async function cutBack(file: string, offset: number, maxBytes: number): Promise<void> {
  try {
    const { size } = await fs.promises.stat(file);
    if (size > offset && size <= offset + maxBytes) await fs.promises.truncate(file, offset);
  } catch {
    // The upload is gone (completed, aborted, swept): nothing to cut.
  }
}

/** Part `n`'s marker (`<dir>/<n>`: "<size> <etag>" of its last complete write), if it has one. */
async function readMarker(dir: string, n: number): Promise<{ size: number; etag: string } | undefined> {
  try {
    const [size, etag] = (await fs.promises.readFile(path.join(dir, String(n)), 'utf8')).split(' ');
    return { size: Number(size), etag };
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

function sign(secret: Buffer, uploadId: string, partNumber: number, expires: number): string {
  return createHmac('sha256', secret)
    .update(`${uploadId.toLowerCase()}\n${partNumber}\n${expires}`)
    .digest('hex');
}
