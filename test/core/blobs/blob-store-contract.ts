import { createCipheriv, createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { NotFoundError, PayloadTooLargeError, ValidationError } from '../../../core/errors.js';
import type { BlobStore } from '../../../core/blobs/blob-store.js';

export interface OpenedBlobStore {
  store: BlobStore;
  close(): Promise<void>;
  /** Everything the backend holds right now (objects, temporary files), to prove nothing is left. */
  list(): Promise<string[]>;
}

const MB = 1000 * 1000;

const ZEROS = Buffer.alloc(64 * 1024);

/**
 * `size` deterministic pseudo-random bytes in 64 KiB chunks, generated as they are read (AES-CTR
 * keystream: native speed, so 20 MB costs milliseconds, and incompressible).
 */
export function generated(size: number, seed = 1): Readable {
  const cipher = createCipheriv('aes-128-ctr', Buffer.alloc(16, seed), Buffer.alloc(16));
  let sent = 0;
  return new Readable({
    read() {
      if (sent >= size) {
        this.push(null);
        return;
      }
      const chunk = cipher.update(ZEROS.subarray(0, Math.min(ZEROS.length, size - sent)));
      sent += chunk.length;
      this.push(chunk);
    },
  });
}

/** A body that delivers `before` bytes, then fails the way an aborted client request does. */
export function failingAfter(before: number): Readable {
  return Readable.from(
    (async function* () {
      yield* generated(before);
      throw new Error('client went away');
    })(),
  );
}

export async function digest(stream: Readable): Promise<{ size: number; sha256: string }> {
  const hash = createHash('sha256');
  let size = 0;
  await pipeline(stream, async (chunks: AsyncIterable<Buffer>) => {
    for await (const chunk of chunks) {
      size += chunk.length;
      hash.update(chunk);
    }
  });
  return { size, sha256: hash.digest('hex') };
}

/**
 * The behaviour every BlobStore adapter must have. `open` gives a fresh, empty store and a way to
 * see what its backend holds.
 */
export function describeBlobStore(name: string, open: () => Promise<OpenedBlobStore>): void {
  describe(`BlobStore contract: ${name}`, () => {
    let t: OpenedBlobStore;
    const limit = { maxBytes: 100 * MB };

    beforeAll(async () => {
      t = await open();
    });
    afterAll(async () => {
      await t?.close();
    });

    it('round-trips a multi-part stream without changing a byte', async () => {
      const size = 20 * MB;
      const expected = await digest(generated(size, 7));
      const stored = await t.store.put('inputs/u1/big', generated(size, 7), limit);
      expect(stored).toEqual(expected);
      expect(await digest(await t.store.get('inputs/u1/big'))).toEqual(expected);
      await t.store.delete('inputs/u1/big');
    });

    it('stores an empty body', async () => {
      const stored = await t.store.put('inputs/u1/empty', Readable.from([]), limit);
      expect(stored).toEqual({ size: 0, sha256: createHash('sha256').digest('hex') });
      expect(await digest(await t.store.get('inputs/u1/empty'))).toEqual(stored);
      await t.store.delete('inputs/u1/empty');
    });

    it('accepts a body of exactly maxBytes and rejects one byte more, leaving nothing', async () => {
      const max = 3 * MB + 17;
      const ok = await t.store.put('inputs/u1/exact', generated(max), { maxBytes: max });
      expect(ok.size).toBe(max);
      await t.store.delete('inputs/u1/exact');

      const err = await t.store.put('inputs/u1/over', generated(max + 1), { maxBytes: max }).catch((e) => e);
      expect(err).toBeInstanceOf(PayloadTooLargeError);
      expect(await t.list()).toEqual([]);
      await expect(t.store.get('inputs/u1/over')).rejects.toBeInstanceOf(NotFoundError);
    });

    it('rejects a body larger than maxBytes spanning several parts, leaving nothing', async () => {
      const err = await t.store
        .put('inputs/u1/over-big', generated(20 * MB), { maxBytes: 18 * MB })
        .catch((e) => e);
      expect(err).toBeInstanceOf(PayloadTooLargeError);
      expect(await t.list()).toEqual([]);
    });

    it.each([
      ['small', 100 * 1000],
      ['multi-part', 18 * MB],
    ])('rejects a %s body that fails midway with its error, leaving nothing', async (_kind, before) => {
      await expect(t.store.put('inputs/u1/broken', failingAfter(before), limit)).rejects.toThrow(
        'client went away',
      );
      expect(await t.list()).toEqual([]);
    });

    it('reads a byte range (both ends inclusive) of an output', async () => {
      const bytes = Buffer.from('0123456789abcdefghij');
      await t.store.put('outputs/u1/j1/a1/report.txt', Readable.from([bytes]), limit);
      const text = async (r: { start: number; end: number }) =>
        Buffer.concat(await (await t.store.get('outputs/u1/j1/a1/report.txt', r)).toArray()).toString();
      expect(await text({ start: 2, end: 5 })).toBe('2345');
      expect(await text({ start: 0, end: 0 })).toBe('0');
      expect(await text({ start: 15, end: 19 })).toBe('fghij');
      await t.store.delete('outputs/u1/j1/a1/report.txt');
    });

    it('hands out a download URL that GETs the blob without credentials, when it has them', async () => {
      if (!t.store.downloadUrl) return; // the directory store: the API streams instead
      const bytes = Buffer.from('name,reason\r\n"a, b",bad\r\n');
      await t.store.put('outputs/u1/j1/a1/rejected.csv', Readable.from([bytes]), limit);
      const url = await t.store.downloadUrl('outputs/u1/j1/a1/rejected.csv', {
        expiresIn: 60,
        fileName: 'rejected.csv',
        contentType: 'text/csv',
      });
      try {
        // Signed overrides S3 answers with (the emulator ignores them, so they are checked here).
        const query = new URL(url).searchParams;
        expect(query.get('response-content-disposition')).toBe('attachment; filename="rejected.csv"');
        expect(query.get('response-content-type')).toBe('text/csv');
        expect(Number(query.get('X-Amz-Expires'))).toBe(60);
        const res = await fetch(url);
        expect(res.status).toBe(200);
        expect(Buffer.from(await res.arrayBuffer())).toEqual(bytes);
        const part = await fetch(url, { headers: { range: 'bytes=0-3' } });
        expect(part.status).toBe(206);
        expect(await part.text()).toBe('name');
      } finally {
        await t.store.delete('outputs/u1/j1/a1/rejected.csv');
      }
    });

    it('answers NotFoundError for a missing key', async () => {
      await expect(t.store.get('inputs/u1/missing')).rejects.toBeInstanceOf(NotFoundError);
    });

    it('deletes idempotently', async () => {
      await t.store.put('inputs/u1/gone', Readable.from([Buffer.from('x')]), limit);
      await t.store.delete('inputs/u1/gone');
      await t.store.delete('inputs/u1/gone');
      await t.store.delete('inputs/u1/never-there');
      await expect(t.store.get('inputs/u1/gone')).rejects.toBeInstanceOf(NotFoundError);
      expect(await t.list()).toEqual([]);
    });

    it.each(['../x', 'a/../b', '/abs', '', 'a//b', 'a/./b', 'a/b/'])(
      'rejects the unsafe key %j with ValidationError',
      async (key) => {
        const body = Readable.from([Buffer.from('x')]);
        await expect(t.store.put(key, body, limit)).rejects.toBeInstanceOf(ValidationError);
        await expect(t.store.get(key)).rejects.toBeInstanceOf(ValidationError);
        await expect(t.store.delete(key)).rejects.toBeInstanceOf(ValidationError);
      },
    );

    it('passes check() when healthy', async () => {
      await expect(t.store.check()).resolves.toBeUndefined();
    });

    it('replaces a blob written again under the same key', async () => {
      await t.store.put('inputs/u1/same', Readable.from([Buffer.from('first version, longer')]), limit);
      const second = await t.store.put('inputs/u1/same', Readable.from([Buffer.from('second')]), limit);
      expect(await digest(await t.store.get('inputs/u1/same'))).toEqual(second);
      expect(await t.list()).toEqual(['inputs/u1/same']);
      await t.store.delete('inputs/u1/same');
    });
  });
}
