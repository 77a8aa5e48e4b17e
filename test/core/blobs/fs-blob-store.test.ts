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

  it('sweeps temporary files left by a crash without touching stored blobs', async () => {
    const store = new FsBlobStore(root);
    const stored = await store.put('inputs/u/kept', Readable.from([Buffer.from('kept')]), { maxBytes: 10 });
    await fs.promises.mkdir(path.join(root, '.tmp'), { recursive: true });
    await fs.promises.writeFile(path.join(root, '.tmp', 'crashed'), 'half');
    await store.sweepTemporary();
    expect(await filesUnder(root)).toEqual(['inputs/u/kept']);
    expect(await digest(await store.get('inputs/u/kept'))).toEqual(stored);
  });
});
