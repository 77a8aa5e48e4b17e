import { createHash, randomUUID } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it } from '@jest/globals';
import { FsBlobStore } from '../../../core/blobs/fs-blob-store.js';
import { describeBlobStore, digest } from './blob-store-contract.js';

/** Every file under `root` (temporary ones included), relative, with `/` separators. */
async function filesUnder(root: string): Promise<string[]> {
  const entries = await fs.promises.readdir(root, { recursive: true, withFileTypes: true });
  return entries
    .filter((e) => e.isFile())
    .map((e) => path.relative(root, path.join(e.parentPath, e.name)).split(path.sep).join('/'))
    .sort();
}

async function tempDir(): Promise<string> {
  return fs.promises.mkdtemp(path.join(os.tmpdir(), 'jobs-blobs-'));
}

describeBlobStore('FsBlobStore', async () => {
  const root = await tempDir();
  return {
    store: new FsBlobStore(root),
    list: () => filesUnder(root),
    close: () => fs.promises.rm(root, { recursive: true, force: true }),
  };
});

describe('FsBlobStore', () => {
  let root: string;
  beforeEach(async () => {
    root = await tempDir();
  });
  afterEach(async () => {
    await fs.promises.rm(root, { recursive: true, force: true });
  });

  it('creates its directory on check()', async () => {
    const store = new FsBlobStore(path.join(root, 'nested', 'blobs'));
    await store.check();
    expect(fs.statSync(path.join(root, 'nested', 'blobs')).isDirectory()).toBe(true);
  });

  it('assembles a direct upload from its parts, and refuses parts holding more than declared', async () => {
    const store = new FsBlobStore(root, { partSize: 5 });
    const uploadId = randomUUID();
    const opts = { uploadId, partSize: 5, expiresAt: new Date(Date.now() + 60_000), apiBaseUrl: 'http://x' };
    const bytes = Buffer.from('id,n\n1,2\n3,4\n'); // 14 bytes: parts of 5, 5 and 4
    const sha256 = createHash('sha256').update(bytes).digest('hex');
    const send = async (id: string) => {
      const parts = [];
      for (let n = 1; n * 5 - 5 < bytes.length; n++) {
        const part = bytes.subarray(n * 5 - 5, n * 5);
        parts.push({ partNumber: n, etag: (await store.putPart(id, n, Readable.from([part]), 5)).etag });
      }
      return parts;
    };
    await store.begin('inputs/u/whole', { ...opts, size: bytes.length });
    const parts = await send(uploadId);
    const done = await store.complete('inputs/u/whole', {
      uploadId,
      storeUploadId: null,
      parts,
      size: bytes.length,
      sha256,
    });
    expect(done).toEqual({ size: bytes.length, sha256Verified: true });
    expect(await digest(await store.get('inputs/u/whole'))).toEqual({ size: bytes.length, sha256 });

    const short = randomUUID();
    await store.begin('inputs/u/short', { ...opts, uploadId: short, size: 12 });
    const tooMany = await send(short);
    await expect(
      store.complete('inputs/u/short', {
        uploadId: short,
        storeUploadId: null,
        parts: tooMany,
        size: 12,
        sha256,
      }),
    ).rejects.toThrow('the uploaded parts hold more than the declared 12 bytes');
    expect(await filesUnder(root)).toEqual(['.upload-secret', 'inputs/u/whole']);
  });

  it('sweeps temporary files left by a crash without touching stored blobs', async () => {
    const store = new FsBlobStore(root);
    const stored = await store.put('inputs/u/kept', Readable.from([Buffer.from('kept')]), { maxBytes: 10 });
    await fs.promises.mkdir(path.join(root, '.tmp'), { recursive: true });
    await fs.promises.writeFile(path.join(root, '.tmp', 'crashed'), 'half');
    await store.recover();
    expect(await filesUnder(root)).toEqual(['inputs/u/kept']);
    expect(await digest(await store.get('inputs/u/kept'))).toEqual(stored);
  });

  it('keeps what it writes private (directories 0700, files 0600) under a permissive umask', async () => {
    const old = process.umask(0o022);
    try {
      const store = new FsBlobStore(path.join(root, 'blobs'), { partSize: 5 });
      await store.put('inputs/u/put', Readable.from([Buffer.from('put')]), { maxBytes: 10 });
      const bytes = Buffer.from('12345');
      const sha256 = createHash('sha256').update(bytes).digest('hex');
      const opts = (uploadId: string) => ({
        uploadId,
        size: 5,
        partSize: 5,
        expiresAt: new Date(Date.now() + 60_000),
        apiBaseUrl: 'http://x',
      });
      const done = randomUUID();
      await store.begin('inputs/u/done', opts(done));
      const { etag } = await store.putPart(done, 1, Readable.from([bytes]), 5);
      await store.complete('inputs/u/done', {
        uploadId: done,
        storeUploadId: null,
        parts: [{ partNumber: 1, etag }],
        size: 5,
        sha256,
      });
      const open = randomUUID(); // begun, one part sent, never completed
      await store.begin('inputs/u/open', opts(open));
      await store.putPart(open, 1, Readable.from([bytes]), 5);

      const modes = (await fs.promises.readdir(path.join(root, 'blobs'), { recursive: true })).map((f) => {
        const st = fs.statSync(path.join(root, 'blobs', f));
        return [f.split(path.sep).join('/'), st.isDirectory() ? 'dir' : 'file', st.mode & 0o777];
      });
      expect(modes.map(([f]) => f)).toEqual(
        expect.arrayContaining(['inputs/u/put', 'inputs/u/done', `.uploads/${open}`, '.upload-secret']),
      );
      for (const [f, kind, mode] of modes) {
        expect([f, mode]).toEqual([f, kind === 'dir' ? 0o700 : 0o600]);
      }
      expect(fs.statSync(path.join(root, 'blobs')).mode & 0o777).toBe(0o700);
    } finally {
      process.umask(old);
    }
  });

  it('closes a root an older version left open when it starts', async () => {
    const blobs = path.join(root, 'blobs');
    await fs.promises.mkdir(blobs, { mode: 0o755 });
    await fs.promises.chmod(blobs, 0o755);
    await new FsBlobStore(blobs).recover();
    expect(fs.statSync(blobs).mode & 0o777).toBe(0o700);
  });
});
