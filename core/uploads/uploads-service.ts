import { randomUUID } from 'node:crypto';
import type { Principal } from '../auth/principal.js';
import { inputKey, type BlobStore } from '../blobs/blob-store.js';
import { partCount, type MultipartUploads, type PartTarget } from '../blobs/multipart-uploads.js';
import type { Prisma } from '../db/database.js';
import type { Upload as UploadRow } from '../db/generated/client.js';
import {
  ConflictError,
  ForbiddenError,
  NotFoundError,
  PayloadTooLargeError,
  TooManyRequestsError,
  ValidationError,
} from '../errors.js';

export interface BegunUpload {
  uploadId: string;
  key: string;
  partSize: number;
  parts: PartTarget[];
  expiresAt: string;
  /**
   * Send the parts one at a time, in order: the store hashes them as they arrive (see
   * MultipartUploads), and completion needs no SHA-256 from the client.
   */
  sequential: boolean;
}

export interface CompletedUpload {
  uploadId: string;
  size: number;
  status: 'COMPLETED';
}

export interface UploadsOptions {
  maxUploadBytes: number;
  /** How long part URLs stay valid, and an upload may be completed and then used (default 6 h). */
  ttlSeconds?: number;
  /** Uploads a user may have begun and not completed at once (default 20, JOBS_MAX_OPEN_UPLOADS). */
  maxOpenUploads?: number;
  /**
   * How long past its expiry an upload is left alone by sweepExpired (default 15 min), so a
   * completion that began before the expiry is not swept from under it.
   */
  sweepGraceMs?: number;
}

/** What one sweepExpired() did. */
export interface SweepResult {
  /** Unfinished uploads whose parts were dropped. */
  aborted: number;
  /** Completed uploads no job used, whose object was deleted. */
  removed: number;
  /** Uploads the store failed to clean up; their rows stay for the next sweep. */
  failed: number;
}

export const DEFAULT_MAX_OPEN_UPLOADS = 20;
const DEFAULT_TTL_SECONDS = 6 * 3600;
const DEFAULT_SWEEP_GRACE_MS = 15 * 60_000;

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/**
 * Direct uploads: begin (presigned part URLs under a server-chosen key), complete (assemble and
 * verify). A completed upload is then the input of exactly one job (JobsService.create). An
 * upload must be completed before it expires; what is left past its expiry (parts never
 * completed, a completed file no job used) is removed by sweepExpired (see ./upload-sweeper.ts).
 * Each user may have `maxOpenUploads` unfinished uploads at once.
 */
export class UploadsService {
  constructor(
    private readonly prisma: Prisma,
    private readonly store: MultipartUploads & Pick<BlobStore, 'delete'>,
    private readonly opts: UploadsOptions,
  ) {}

  async begin(
    owner: Principal,
    input: { fileName: string; size: number; sha256?: string },
    apiBaseUrl: string,
  ): Promise<BegunUpload> {
    if (!owner.permissions.includes('job:Create'))
      throw new ForbiddenError('this token lacks the job:Create permission');
    if (input.size > this.opts.maxUploadBytes) {
      throw new PayloadTooLargeError(
        `file of ${input.size} bytes exceeds the upload limit of ${this.opts.maxUploadBytes} bytes`,
      );
    }
    // Checked before the store is asked (S3 bills a begun upload), and again under a lock with the
    // insert, so concurrent begins cannot pass the cap together.
    await this.checkOpenUploads(this.prisma, owner.userId);
    const id = randomUUID();
    const key = inputKey(owner.userId, id);
    const partSize = this.store.partSizeFor(input.size);
    const expiresAt = new Date(Date.now() + (this.opts.ttlSeconds ?? DEFAULT_TTL_SECONDS) * 1000);
    const begun = await this.store.begin(key, {
      uploadId: id,
      size: input.size,
      partSize,
      expiresAt,
      apiBaseUrl,
    });
    try {
      await this.prisma.$transaction(async (tx) => {
        await tx.$executeRaw`SELECT pg_advisory_xact_lock(hashtext(${`uploads:${owner.userId}`}))`;
        await this.checkOpenUploads(tx, owner.userId);
        await tx.upload.create({
          data: {
            id,
            ownerId: owner.userId,
            key,
            fileName: input.fileName,
            size: BigInt(input.size),
            sha256: input.sha256 ?? null,
            partSize,
            storeUploadId: begun.storeUploadId,
            expiresAt,
          },
        });
      });
    } catch (err) {
      await this.store.abort(key, { uploadId: id, storeUploadId: begun.storeUploadId }).catch(() => {});
      throw err;
    }
    return {
      uploadId: id,
      key,
      partSize,
      parts: begun.parts,
      expiresAt: expiresAt.toISOString(),
      sequential: this.store.hashesPartsInOrder,
    };
  }

  /**
   * Assembles the parts and checks size (and, for the directory store, SHA-256). A failed check
   * ends the upload: its parts and row are removed and the client starts over. Completing a
   * completed upload again answers the same. The SHA-256 is the one declared when the upload
   * began or, when it was not, `sha256` (a client that hashes the file while it sends it). A
   * store that hashes the bytes itself (the directory store: `sequential`) needs neither: its
   * own hash is recorded, so the bytes are hashed once, where they are written.
   */
  async complete(
    owner: Principal,
    id: string,
    parts: { partNumber: number; etag: string }[],
    sha256?: string,
  ): Promise<CompletedUpload> {
    const row = await this.owned(owner, id);
    if (row.sha256 && sha256 && row.sha256 !== sha256) {
      throw new ValidationError(`sha256 differs from the one declared when the upload began (${row.sha256})`);
    }
    if (row.status === 'COMPLETED') return { uploadId: row.id, size: Number(row.size), status: 'COMPLETED' };
    if (row.status === 'USED') throw new ConflictError(`upload ${id} was already used by a job`);
    if (row.expiresAt.getTime() <= Date.now()) {
      throw new ConflictError(
        `upload ${id} expired at ${row.expiresAt.toISOString()} before it was completed; begin a new one`,
      );
    }
    const declared = row.sha256 ?? sha256;
    if (!declared && !this.store.hashesPartsInOrder) {
      throw new ValidationError(
        'sha256 is required: give the file’s SHA-256 when completing, since it was not given when the upload began',
      );
    }
    const expected = partCount(Number(row.size), row.partSize);
    if (parts.length !== expected)
      throw new ValidationError(`expected ${expected} parts for ${row.size} bytes, got ${parts.length}`);
    const ref = { uploadId: row.id, storeUploadId: row.storeUploadId };
    let stored: string | null;
    try {
      ({ sha256: stored } = await this.store.complete(row.key, {
        ...ref,
        parts: [...parts].sort((a, b) => a.partNumber - b.partNumber),
        size: Number(row.size),
        sha256: declared ?? undefined,
      }));
    } catch (err) {
      if (err instanceof ValidationError) {
        await this.store.abort(row.key, ref).catch(() => {});
        await this.prisma.upload.deleteMany({ where: { id: row.id, status: 'PENDING' } });
      }
      throw err;
    }
    const marked = await this.prisma.upload.updateMany({
      where: { id: row.id, status: 'PENDING' },
      data: { status: 'COMPLETED', completedAt: new Date(), sha256: stored ?? declared },
    });
    if (marked.count === 0) {
      // Completed twice at once (the other call marked it), or swept meanwhile: only the latter
      // leaves a file no row points to.
      const now = await this.prisma.upload.findUnique({ where: { id: row.id } });
      if (!now) {
        await this.store.delete(row.key).catch(() => {});
        throw new NotFoundError(`upload ${id} expired and was removed; begin a new one`);
      }
    }
    return { uploadId: row.id, size: Number(row.size), status: 'COMPLETED' };
  }

  /**
   * Removes uploads past their expiry (plus the grace period), oldest first, in batches of
   * `batchSize` (default 100), up to `maxBatches` (default 10) per call: an unfinished upload's
   * parts are dropped in the store (directory: `.uploads/<id>/`; S3: AbortMultipartUpload), a
   * completed one that no job used has its object deleted, and the row goes. Each upload is one
   * transaction (row deleted, then the store cleaned): a store failure rolls the row back for the
   * next sweep, and a job claiming the upload at that moment either wins (the upload is USED and
   * kept) or finds it gone. Several API hosts may sweep at once.
   */
  async sweepExpired(opts: { batchSize?: number; maxBatches?: number } = {}): Promise<SweepResult> {
    const batchSize = opts.batchSize ?? 100;
    const cutoff = new Date(Date.now() - (this.opts.sweepGraceMs ?? DEFAULT_SWEEP_GRACE_MS));
    const result: SweepResult = { aborted: 0, removed: 0, failed: 0 };
    const failed: string[] = [];
    for (let batch = 0; batch < (opts.maxBatches ?? 10); batch++) {
      const rows = await this.prisma.upload.findMany({
        where: {
          status: { in: ['PENDING', 'COMPLETED'] },
          expiresAt: { lt: cutoff },
          ...(failed.length ? { id: { notIn: failed } } : {}),
        },
        orderBy: { expiresAt: 'asc' },
        take: batchSize,
      });
      for (const row of rows) {
        try {
          const swept = await this.prisma.$transaction(
            async (tx) => {
              const gone = await tx.upload.deleteMany({
                where: { id: row.id, status: row.status, expiresAt: { lt: cutoff } },
              });
              if (gone.count === 0) return false; // used, completed or swept meanwhile
              if (row.status === 'PENDING') {
                await this.store.abort(row.key, { uploadId: row.id, storeUploadId: row.storeUploadId });
              } else {
                await this.store.delete(row.key);
              }
              return true;
            },
            { timeout: 60_000 },
          );
          if (swept) result[row.status === 'PENDING' ? 'aborted' : 'removed']++;
        } catch {
          failed.push(row.id);
          result.failed++;
        }
      }
      if (rows.length < batchSize) break;
    }
    return result;
  }

  /** Throws TooManyRequestsError when `ownerId` has maxOpenUploads unfinished, unexpired uploads. */
  private async checkOpenUploads(db: Pick<Prisma, 'upload'>, ownerId: string): Promise<void> {
    const limit = this.opts.maxOpenUploads ?? DEFAULT_MAX_OPEN_UPLOADS;
    const now = new Date();
    const open = await db.upload.findMany({
      where: { ownerId, status: 'PENDING', expiresAt: { gt: now } },
      select: { expiresAt: true },
      orderBy: { expiresAt: 'asc' },
      take: limit,
    });
    if (open.length < limit) return;
    const next = open[0].expiresAt;
    throw new TooManyRequestsError(
      `${limit} uploads are already in progress, the most allowed at once: complete them, or wait until one expires (the next at ${next.toISOString()})`,
      (next.getTime() - now.getTime()) / 1000,
      { limit, open: open.length },
    );
  }

  /** A PENDING upload by id, for the directory store's part route (its URL signature is the credential). */
  async pending(id: string): Promise<UploadRow> {
    const row = UUID.test(id) ? await this.prisma.upload.findUnique({ where: { id } }) : null;
    if (!row || row.status !== 'PENDING')
      throw new NotFoundError(`upload ${id} not found or already completed`);
    return row;
  }

  private async owned(owner: Principal, id: string): Promise<UploadRow> {
    if (!owner.permissions.includes('job:Create'))
      throw new ForbiddenError('this token lacks the job:Create permission');
    const row = UUID.test(id) ? await this.prisma.upload.findUnique({ where: { id } }) : null;
    if (!row || row.ownerId !== owner.userId) throw new NotFoundError(`upload ${id} not found`);
    return row;
  }
}
