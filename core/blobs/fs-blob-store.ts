import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { NotFoundError } from '../errors.js';
import { assertSafeKey, MeteredStream, type BlobStore, type StoredBlob } from './blob-store.js';

/**
 * Blobs as files under one directory (the embedded default, `<data-dir>/blobs`). A blob is
 * written to a temporary name and renamed into place, so a crash never leaves a half file under
 * a real key.
 */
export class FsBlobStore implements BlobStore {
  constructor(private readonly root: string) {}

  private pathOf(key: string): string {
    assertSafeKey(key);
    return path.join(this.root, ...key.split('/'));
  }

  async put(key: string, body: Readable, opts: { maxBytes: number }): Promise<StoredBlob> {
    const file = this.pathOf(key);
    await fs.promises.mkdir(path.dirname(file), { recursive: true });
    const tmp = path.join(this.root, '.tmp', randomUUID());
    await fs.promises.mkdir(path.dirname(tmp), { recursive: true });
    const meter = new MeteredStream(opts.maxBytes);
    try {
      await pipeline(body, meter, fs.createWriteStream(tmp, { flags: 'wx' }));
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
    await fs.promises.mkdir(this.root, { recursive: true });
    await fs.promises.access(this.root, fs.constants.W_OK);
  }

  /** Removes temporary files left by a crash mid-upload (called at start-up). */
  async sweepTemporary(): Promise<void> {
    await fs.promises.rm(path.join(this.root, '.tmp'), { recursive: true, force: true });
  }
}
