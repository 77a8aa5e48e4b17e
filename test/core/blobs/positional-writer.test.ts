import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { afterEach, beforeEach, describe, expect, it } from '@jest/globals';
import { PositionalWriter } from '../../../core/blobs/positional-writer.js';

let dir: string;
beforeEach(async () => {
  dir = await fs.promises.mkdtemp(path.join(os.tmpdir(), 'jobs-pwriter-'));
});
afterEach(async () => {
  await fs.promises.rm(dir, { recursive: true, force: true });
});

/** `data` as chunks of uneven sizes (a socket's are whatever arrived). */
function chunked(data: Buffer): Buffer[] {
  const chunks: Buffer[] = [];
  for (let at = 0, n = 1; at < data.length; n = (n * 7 + 3) % 5000) {
    chunks.push(data.subarray(at, at + n + 1));
    at += n + 1;
  }
  return chunks;
}

describe('PositionalWriter', () => {
  it('writes every byte at its place from `start`, with writes in flight side by side', async () => {
    const file = path.join(dir, 'f');
    const before = Buffer.alloc(1000, 0x2d);
    fs.writeFileSync(file, before);
    const data = randomBytes(3 * 1024 * 1024 + 17);
    const fd = fs.openSync(file, 'r+');
    try {
      // Small batches: ~190 writes, up to 3 at once, finishing in whatever order.
      const writer = new PositionalWriter(fd, before.length, { batchBytes: 16 * 1024, concurrency: 3 });
      await pipeline(Readable.from(chunked(data)), writer);
    } finally {
      fs.closeSync(fd);
    }
    const written = fs.readFileSync(file);
    expect(written.length).toBe(before.length + data.length);
    expect(written.subarray(0, before.length).equals(before)).toBe(true);
    expect(written.subarray(before.length).equals(data)).toBe(true);
  });

  it('fails the stream when a write fails, and closes only after the writes in flight', async () => {
    const file = path.join(dir, 'f');
    fs.writeFileSync(file, '');
    const fd = fs.openSync(file, 'r'); // not writable: every write fails (EBADF)
    try {
      const writer = new PositionalWriter(fd, 0, { batchBytes: 1024, concurrency: 2 });
      await expect(pipeline(Readable.from(chunked(randomBytes(256 * 1024))), writer)).rejects.toMatchObject({
        code: 'EBADF',
      });
      await writer.settled();
    } finally {
      fs.closeSync(fd);
    }
    expect(fs.statSync(file).size).toBe(0);
  });

  it('writes nothing more once the stream has failed (the caller may cut the file back)', async () => {
    const file = path.join(dir, 'f');
    fs.writeFileSync(file, '');
    const fd = fs.openSync(file, 'r+');
    const data = randomBytes(512 * 1024);
    async function* failing() {
      yield* chunked(data);
      throw new Error('the client went away');
    }
    try {
      const writer = new PositionalWriter(fd, 0, { batchBytes: 8 * 1024, concurrency: 2 });
      await expect(pipeline(Readable.from(failing()), writer)).rejects.toThrow('the client went away');
      expect(fs.statSync(file).size).toBeGreaterThan(0); // it was writing
      await writer.settled();
      // Closed after its last write: none in flight (its private set), so a truncate now stays.
      expect((writer as unknown as { inFlight: Set<unknown> }).inFlight.size).toBe(0);
      fs.ftruncateSync(fd, 0);
    } finally {
      fs.closeSync(fd);
    }
    expect(fs.statSync(file).size).toBe(0);
  });
});
