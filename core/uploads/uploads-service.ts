import { randomUUID } from 'node:crypto';
import type { Principal } from '../auth/principal.js';
import { inputKey } from '../blobs/blob-store.js';
import { partCount, type MultipartUploads, type PartTarget } from '../blobs/multipart-uploads.js';
import type { Prisma } from '../db/database.js';
import type { Upload as UploadRow } from '../db/generated/client.js';
import {
  ConflictError,
  ForbiddenError,
  NotFoundError,
  PayloadTooLargeError,
  ValidationError,
} from '../errors.js';

export interface BegunUpload {
  uploadId: string;
  key: string;
  partSize: number;
  parts: PartTarget[];
  expiresAt: string;
}

export interface CompletedUpload {
  uploadId: string;
  size: number;
  status: 'COMPLETED';
}

export interface UploadsOptions {
  maxUploadBytes: number;
  /** How long part URLs stay valid (default 6 h). */
  ttlSeconds?: number;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/**
 * Direct uploads: begin (presigned part URLs under a server-chosen key), complete (assemble and
 * verify). A completed upload is then the input of exactly one job (JobsService.create).
 */
export class UploadsService {
  constructor(
    private readonly prisma: Prisma,
    private readonly store: MultipartUploads,
    private readonly opts: UploadsOptions,
  ) {}

  async begin(
    owner: Principal,
    input: { fileName: string; size: number; sha256: string },
    apiBaseUrl: string,
  ): Promise<BegunUpload> {
    if (!owner.permissions.includes('job:Create'))
      throw new ForbiddenError('this token lacks the job:Create permission');
    if (input.size > this.opts.maxUploadBytes) {
      throw new PayloadTooLargeError(
        `file of ${input.size} bytes exceeds the upload limit of ${this.opts.maxUploadBytes} bytes`,
      );
    }
    const id = randomUUID();
    const key = inputKey(owner.userId, id);
    const partSize = this.store.partSizeFor(input.size);
    const expiresAt = new Date(Date.now() + (this.opts.ttlSeconds ?? 6 * 3600) * 1000);
    const begun = await this.store.begin(key, {
      uploadId: id,
      size: input.size,
      partSize,
      expiresAt,
      apiBaseUrl,
    });
    try {
      await this.prisma.upload.create({
        data: {
          id,
          ownerId: owner.userId,
          key,
          fileName: input.fileName,
          size: BigInt(input.size),
          sha256: input.sha256,
          partSize,
          storeUploadId: begun.storeUploadId,
          expiresAt,
        },
      });
    } catch (err) {
      await this.store.abort(key, { uploadId: id, storeUploadId: begun.storeUploadId }).catch(() => {});
      throw err;
    }
    return { uploadId: id, key, partSize, parts: begun.parts, expiresAt: expiresAt.toISOString() };
  }

  /**
   * Assembles the parts and checks size (and, for the directory store, SHA-256). A failed check
   * ends the upload: its parts and row are removed and the client starts over. Completing a
   * completed upload again answers the same.
   */
  async complete(
    owner: Principal,
    id: string,
    parts: { partNumber: number; etag: string }[],
  ): Promise<CompletedUpload> {
    const row = await this.owned(owner, id);
    if (row.status === 'COMPLETED') return { uploadId: row.id, size: Number(row.size), status: 'COMPLETED' };
    if (row.status === 'USED') throw new ConflictError(`upload ${id} was already used by a job`);
    const expected = partCount(Number(row.size), row.partSize);
    if (parts.length !== expected)
      throw new ValidationError(`expected ${expected} parts for ${row.size} bytes, got ${parts.length}`);
    const ref = { uploadId: row.id, storeUploadId: row.storeUploadId };
    try {
      await this.store.complete(row.key, {
        ...ref,
        parts: [...parts].sort((a, b) => a.partNumber - b.partNumber),
        size: Number(row.size),
        sha256: row.sha256,
      });
    } catch (err) {
      if (err instanceof ValidationError) {
        await this.store.abort(row.key, ref).catch(() => {});
        await this.prisma.upload.deleteMany({ where: { id: row.id, status: 'PENDING' } });
      }
      throw err;
    }
    await this.prisma.upload.updateMany({
      where: { id: row.id, status: 'PENDING' },
      data: { status: 'COMPLETED', completedAt: new Date() },
    });
    return { uploadId: row.id, size: Number(row.size), status: 'COMPLETED' };
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
