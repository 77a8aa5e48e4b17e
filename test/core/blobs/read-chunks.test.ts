import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, describe, expect, it } from '@jest/globals';
import { FileReadStream } from '../../../core/blobs/file-read-stream.js';
import { HEADROOM, prependInPlace, readChunks } from '../../../core/blobs/read-chunks.js';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'read-chunks-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

/** A file of `size` bytes that differ from one position to the next. */
function fileOf(size: number): { file: string; bytes: Buffer } {
  const bytes = Buffer.alloc(size);
  for (let i = 0; i < size; i++) bytes[i] = (i * 31 + 7) & 0xff;
  const file = path.join(tmp, `f-${size}-${Math.random().toString(36).slice(2)}`);
  fs.writeFileSync(file, bytes);
  return { file, bytes };
}

async function collect(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

describe('FileReadStream', () => {
  it('streams a file, or an inclusive range of it, and closes the file at the end', async () => {
    const { file, bytes } = fileOf(10_000);
    const whole = await fs.promises.open(file);
    expect(await collect(new FileReadStream(whole, undefined, 1024))).toEqual(bytes);
    expect(whole.fd).toBe(-1); // closed
    const ranged = new FileReadStream(await fs.promises.open(file), { start: 100, end: 5_099 }, 1024);
    expect(await collect(ranged)).toEqual(bytes.subarray(100, 5_100));
    const empty = fileOf(0);
    expect(await collect(new FileReadStream(await fs.promises.open(empty.file)))).toEqual(Buffer.alloc(0));
  });

  it("reads into the caller's buffer until the end, then 0; destroy closes the file", async () => {
    const { file, bytes } = fileOf(2_500);
    const handle = await fs.promises.open(file);
    const stream = new FileReadStream(handle, { start: 500, end: 2_499 });
    const into = Buffer.alloc(1_500);
    expect(await stream.readInto(into)).toBe(1_500);
    expect(into).toEqual(bytes.subarray(500, 2_000));
    expect(await stream.readInto(into)).toBe(500);
    expect(into.subarray(0, 500)).toEqual(bytes.subarray(2_000, 2_500));
    expect(await stream.readInto(into)).toBe(0);
    stream.destroy();
    await new Promise((resolve) => stream.once('close', resolve));
    expect(handle.fd).toBe(-1);
  });
});

describe('readChunks', () => {
  it('reads a file into three buffers used in turn, every chunk with headroom', async () => {
    const { file, bytes } = fileOf(10_000 + 37);
    const stream = new FileReadStream(await fs.promises.open(file), undefined, 1_000);
    const seen: Buffer[] = [];
    const memory = new Set<ArrayBufferLike>();
    for await (const chunk of readChunks(stream)) {
      seen.push(Buffer.from(chunk)); // a copy: the chunk is valid only for a while
      memory.add(chunk.buffer);
      expect(chunk.byteOffset).toBe(HEADROOM);
    }
    stream.destroy();
    expect(Buffer.concat(seen)).toEqual(bytes);
    expect(seen).toHaveLength(11);
    expect(memory.size).toBe(3);
  });

  it("passes any other stream's chunks on as they are", async () => {
    const chunks = [Buffer.from('ab'), Buffer.from('cde')];
    const out: Buffer[] = [];
    for await (const chunk of readChunks(Readable.from(chunks))) out.push(chunk);
    expect(out).toEqual(chunks);
    expect(out[0]).toBe(chunks[0]);
    const strings: Buffer[] = [];
    for await (const chunk of readChunks(Readable.from(['x', 'yz'], { objectMode: true })))
      strings.push(chunk);
    expect(Buffer.concat(strings).toString()).toBe('xyz');
  });
});

describe('prependInPlace', () => {
  it('puts a few bytes in front of a chunk of readChunks, once; anything else is left to the caller', async () => {
    const { file, bytes } = fileOf(3_000);
    const stream = new FileReadStream(await fs.promises.open(file), undefined, 1_000);
    const chunks = readChunks(stream);
    const first = (await chunks.next()).value as Buffer;
    const second = (await chunks.next()).value as Buffer;
    const kept = first.subarray(first.length - 5); // as csv-parse keeps the end of a chunk
    const joined = prependInPlace(kept, second);
    expect(joined?.buffer).toBe(second.buffer);
    expect(joined).toEqual(bytes.subarray(995, 2_000));
    expect(prependInPlace(kept, second)).toBeUndefined(); // its headroom is taken
    const third = (await chunks.next()).value as Buffer;
    expect(prependInPlace(Buffer.alloc(HEADROOM + 1), third)).toBeUndefined(); // too long
    expect(prependInPlace(Buffer.alloc(HEADROOM), third)).toHaveLength(HEADROOM + 1_000);
    expect(prependInPlace(Buffer.from('ab'), Buffer.from('cd'))).toBeUndefined(); // not readChunks'
    await chunks.return(undefined);
    stream.destroy();
  });
});
