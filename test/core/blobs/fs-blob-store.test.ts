import { createHash, randomUUID } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it, jest } from '@jest/globals';
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

  describe('direct uploads', () => {
    const bytes = Buffer.from('id,n\n1,2\n3,4\n'); // 13 bytes: parts of 5, 5 and 3
    const sha256 = createHash('sha256').update(bytes).digest('hex');
    const share = (n: number) => bytes.subarray(n * 5 - 5, n * 5);
    let store: FsBlobStore;
    let uploadId: string;

    beforeEach(async () => {
      store = new FsBlobStore(root, { partSize: 5 });
      uploadId = randomUUID();
      await store.begin('inputs/u/key', {
        uploadId,
        size: bytes.length,
        partSize: 5,
        expiresAt: new Date(Date.now() + 60_000),
        apiBaseUrl: 'http://x',
      });
    });

    const put = (n: number, body: Buffer | Readable = share(n), id = uploadId) =>
      store.putPart(id, n, body instanceof Readable ? body : Readable.from([body]), {
        offset: (n - 1) * 5,
        maxBytes: 5,
      });
    /** Parts 1, 2, 3, one after the other (as the CLI sends them to this store). */
    async function sendInOrder(): Promise<{ partNumber: number; etag: string }[]> {
      const parts = [];
      for (const n of [1, 2, 3]) parts.push({ partNumber: n, etag: (await put(n)).etag });
      return parts;
    }
    const complete = (
      parts: { partNumber: number; etag: string }[],
      opts: { size?: number; sha?: string } = {},
    ) =>
      store.complete('inputs/u/key', {
        uploadId,
        storeUploadId: null,
        parts,
        size: opts.size ?? bytes.length,
        sha256: opts.sha ?? sha256,
      });
    /** Times the store read a file back (hashing it at completion) while `fn` ran. */
    async function readsBack(fn: () => Promise<unknown>): Promise<number> {
      const open = fs.promises.open;
      let reads = 0;
      const spy = jest.spyOn(fs.promises, 'open').mockImplementation((file, flags, mode) => {
        if (flags === 'r') reads++;
        return open(file, flags, mode);
      });
      try {
        await fn();
      } finally {
        spy.mockRestore();
      }
      return reads;
    }

    it('writes parts sent in order into one file, hashes them as they arrive, and renames it at completion', async () => {
      const parts = await sendInOrder();
      // The ETag is a fresh tag of the write, not the part's MD5 (the SHA-256 covers the bytes).
      expect(parts[0].etag).toMatch(/^[0-9a-f]{32}$/);
      expect(parts[0].etag).not.toBe(createHash('md5').update(share(1)).digest('hex'));
      expect(await filesUnder(root)).toEqual(
        [
          '.upload-secret',
          ...parts.map((p) => `.uploads/${uploadId}/${p.partNumber}`),
          `.uploads/${uploadId}/data`,
        ].sort(),
      );
      expect(await readsBack(() => complete(parts))).toBe(0);
      expect(await digest(await store.get('inputs/u/key'))).toEqual({ size: bytes.length, sha256 });
      expect(await filesUnder(root)).toEqual(['.upload-secret', 'inputs/u/key']);
    });

    it('takes parts in any order (and in parallel), hashing what did not arrive in order at completion', async () => {
      const parts = await Promise.all(
        [3, 1, 2].map(async (n) => ({ partNumber: n, etag: (await put(n)).etag })),
      );
      parts.sort((a, b) => a.partNumber - b.partNumber);
      expect(await readsBack(() => complete(parts))).toBe(1);
      expect(await digest(await store.get('inputs/u/key'))).toEqual({ size: bytes.length, sha256 });
    });

    it('takes a part sent again in place of the first one; the old ETag no longer completes', async () => {
      const first = (await put(1, Buffer.from('XXXXX'))).etag;
      const again = (await put(1)).etag;
      expect(again).not.toBe(first);
      const rest = [(await put(2)).etag, (await put(3)).etag];
      await expect(
        complete([first, ...rest].map((etag, i) => ({ partNumber: i + 1, etag }))),
      ).rejects.toThrow('part 1 was not uploaded (or its etag is wrong)');
      // A refused completion ends the upload: nothing is kept.
      expect(await filesUnder(root)).toEqual(['.upload-secret']);
    });

    it('hashes again what a part sent again rewrote after it was hashed', async () => {
      const etags = [(await put(1)).etag, (await put(2, Buffer.from('XXXXX'))).etag, (await put(3)).etag];
      etags[1] = (await put(2)).etag;
      const parts = etags.map((etag, i) => ({ partNumber: i + 1, etag }));
      expect(await readsBack(() => complete(parts))).toBe(1);
      expect(await digest(await store.get('inputs/u/key'))).toEqual({ size: bytes.length, sha256 });
    });

    it('after a restart (a new store on the same directory) completes from the file alone', async () => {
      const parts = await sendInOrder();
      store = new FsBlobStore(root, { partSize: 5 });
      expect(await readsBack(() => complete(parts))).toBe(1);
      expect(await digest(await store.get('inputs/u/key'))).toEqual({ size: bytes.length, sha256 });
    });

    it('refuses a wrong SHA-256, and a size other than declared, keeping nothing', async () => {
      const parts = await sendInOrder();
      await expect(complete(parts, { sha: 'a'.repeat(64) })).rejects.toThrow(
        `the uploaded bytes have SHA-256 ${sha256}, but ${'a'.repeat(64)} was declared`,
      );
      expect(await filesUnder(root)).toEqual(['.upload-secret']);
    });

    it('refuses parts holding more, or fewer, bytes than declared', async () => {
      const parts = await sendInOrder();
      await expect(complete(parts, { size: 12 })).rejects.toThrow(
        'the uploaded parts hold more than the declared 12 bytes',
      );
      uploadId = randomUUID();
      await store.begin('inputs/u/key', {
        uploadId,
        size: bytes.length,
        partSize: 5,
        expiresAt: new Date(Date.now() + 60_000),
        apiBaseUrl: 'http://x',
      });
      const short = [(await put(1)).etag, (await put(2)).etag, (await put(3, share(3).subarray(1))).etag];
      await expect(complete(short.map((etag, i) => ({ partNumber: i + 1, etag })))).rejects.toThrow(
        `the uploaded parts hold ${bytes.length - 1} bytes, but ${bytes.length} were declared`,
      );
      expect(await filesUnder(root)).toEqual(['.upload-secret']);
    });

    it('refuses a part larger than its share, and keeps no marker of a part cut short', async () => {
      await expect(put(1, Buffer.from('123456'))).rejects.toThrow(/exceeds the upload limit of 5 bytes/);
      const body = new Readable({ read() {} });
      const sending = put(2, body);
      body.push(Buffer.from('12'));
      body.destroy(new Error('connection reset'));
      await expect(sending).rejects.toThrow('connection reset');
      expect(
        (await filesUnder(root)).filter((f) => !f.endsWith('/data') && f.startsWith('.uploads')),
      ).toEqual([]);
    });

    it('refuses the same part sent twice at once (409), and takes it once the first is done', async () => {
      const body = new Readable({ read() {} });
      const first = put(1, body);
      await expect(put(1)).rejects.toMatchObject({ status: 409 });
      body.push(share(1));
      body.push(null);
      await first;
      await expect(put(1)).resolves.toMatchObject({ size: 5 });
    });

    it('answers 404 for a part of an upload it does not have', async () => {
      await expect(put(1, share(1), randomUUID())).rejects.toMatchObject({ status: 404 });
    });
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
      const { etag } = await store.putPart(done, 1, Readable.from([bytes]), { offset: 0, maxBytes: 5 });
      await store.complete('inputs/u/done', {
        uploadId: done,
        storeUploadId: null,
        parts: [{ partNumber: 1, etag }],
        size: 5,
        sha256,
      });
      const open = randomUUID(); // begun, one part sent, never completed
      await store.begin('inputs/u/open', opts(open));
      await store.putPart(open, 1, Readable.from([bytes]), { offset: 0, maxBytes: 5 });

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
