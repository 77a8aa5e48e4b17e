import type { Readable } from 'node:stream';
import { FileReadStream } from './file-read-stream.js';

/** Bytes kept free in front of every chunk readChunks reads itself (see prependInPlace). */
export const HEADROOM = 64;

/** Chunks readChunks read into its own buffers, whose headroom nothing has used yet. */
const withHeadroom = new WeakSet<Uint8Array>();

/**
 * The input's bytes, chunk by chunk. From a file (FileReadStream) they are read into two buffers
 * used in turn, so reading allocates nothing per chunk: **a chunk stays valid only until the one
 * after the next has been read** (its buffer is then filled again). A consumer that keeps bytes
 * longer copies them. From any other stream (S3, a checked input) the stream's own chunks come
 * through as they are.
 *
 * Two buffers and not one: csv-parse keeps a view of the last few bytes of a chunk it could not
 * parse yet until the next chunk arrives (see prependInPlace).
 */
export async function* readChunks(input: Readable): AsyncGenerator<Buffer> {
  if (!(input instanceof FileReadStream)) {
    for await (const chunk of input) yield typeof chunk === 'string' ? Buffer.from(chunk) : (chunk as Buffer);
    return;
  }
  const buffers = [0, 1].map(() => Buffer.allocUnsafeSlow(HEADROOM + input.chunkBytes));
  for (let turn = 0; ; turn ^= 1) {
    const buffer = buffers[turn]!;
    const n = await input.readInto(buffer.subarray(HEADROOM));
    if (n === 0) return;
    const chunk = buffer.subarray(HEADROOM, HEADROOM + n);
    withHeadroom.add(chunk);
    yield chunk;
  }
}

/**
 * `prefix` followed by `chunk` as one buffer, built by copying `prefix` into the free space in
 * front of `chunk` (a chunk of readChunks, once), or undefined when there is no such space: the
 * caller then joins them itself. Saves copying a whole chunk to put a few bytes before it.
 */
export function prependInPlace(prefix: Uint8Array, chunk: Buffer): Buffer | undefined {
  if (prefix.length > HEADROOM || !withHeadroom.delete(chunk)) return undefined;
  const joined = Buffer.from(chunk.buffer, chunk.byteOffset - prefix.length, prefix.length + chunk.length);
  joined.set(prefix, 0);
  return joined;
}
