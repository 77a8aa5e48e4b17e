import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it } from '@jest/globals';
import type { BlobStore } from '../../../core/blobs/blob-store.js';
import { FsBlobStore } from '../../../core/blobs/fs-blob-store.js';
import { LazyBlobStore } from '../../../core/blobs/lazy-blob-store.js';
import { describeBlobStore } from './blob-store-contract.js';

async function filesUnder(root: string): Promise<string[]> {
  const entries = await fs.promises.readdir(root, { recursive: true, withFileTypes: true });
  return entries.filter((e) => e.isFile()).map((e) => path.relative(root, path.join(e.parentPath, e.name)));
}

// The store it opens behaves as that store does: the whole contract, through the wrapper.
describeBlobStore('LazyBlobStore (around FsBlobStore)', async () => {
  const root = await fs.promises.mkdtemp(path.join(os.tmpdir(), 'jobs-lazy-blobs-'));
  return {
    store: new LazyBlobStore(async () => new FsBlobStore(root), { hashedOnWrite: true }),
    list: () => filesUnder(root),
    close: () => fs.promises.rm(root, { recursive: true, force: true }),
  };
});

describe('LazyBlobStore', () => {
  let root: string;
  beforeEach(async () => {
    root = await fs.promises.mkdtemp(path.join(os.tmpdir(), 'jobs-lazy-blobs-'));
  });
  afterEach(async () => {
    await fs.promises.rm(root, { recursive: true, force: true });
  });

  it('opens its store at the first use, once, and not before', async () => {
    let opened = 0;
    const blobs = new LazyBlobStore(
      async () => {
        opened++;
        return new FsBlobStore(root);
      },
      { hashedOnWrite: false },
    );
    expect(blobs.hashedOnWrite).toBe(false); // known without opening
    expect(opened).toBe(0);
    await Promise.all([
      blobs.put('a/1', Readable.from(['one']), { maxBytes: 10 }),
      blobs.put('a/2', Readable.from(['two']), { maxBytes: 10 }),
    ]);
    const body = await blobs.get('a/1');
    expect(Buffer.concat(await body.toArray()).toString()).toBe('one');
    await blobs.delete('a/2');
    await blobs.check();
    expect(opened).toBe(1);
  });

  it('tries to open again at the next use after a failed open, failing only the use that hit it', async () => {
    let attempts = 0;
    const open = async (): Promise<BlobStore> => {
      attempts++;
      if (attempts === 1) throw new Error('the SDK could not be loaded');
      return new FsBlobStore(root);
    };
    const blobs = new LazyBlobStore(open, { hashedOnWrite: true });
    await expect(blobs.get('a/1')).rejects.toThrow('the SDK could not be loaded');
    await blobs.put('a/1', Readable.from(['one']), { maxBytes: 10 });
    expect(Buffer.concat(await (await blobs.get('a/1')).toArray()).toString()).toBe('one');
    expect(attempts).toBe(2);
  });
});
