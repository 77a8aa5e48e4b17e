import type { Readable } from 'node:stream';
import { FileReadStream } from './file-read-stream.js';

/** Bytes kept free in front of every chunk readChunks reads itself (see prependInPlace). */
export const HEADROOM = 64;

/** Chunks readChunks read into its own buffers, whose headroom nothing has used yet. */
const withHeadroom = new WeakSet<Uint8Array>();

/**
 * The input's bytes, chunk by chunk. From a file (FileReadStream) they are read into three
 * buffers used in turn, so reading allocates nothing per chunk: **a chunk stays valid only until
 * the consumer asks for the one after the next** (its buffer is then filled again). A consumer
 * that keeps bytes longer copies them. From any other stream (S3, a checked input) the stream's
 * own chunks come through as they are.
 *
 * Each chunk is handed over with the next one already being read, so the disk works while the
 * consumer does (as a stream's read-ahead does). Hence three buffers: the one handed over, the
 * one being read, and the one before, which csv-parse still holds a view of until the next
 * chunk is parsed (the last few bytes it could not parse yet: see prependInPlace).
 */
export async function* readChunks(input: Readable): AsyncGenerator<Buffer> {
  if (!(input instanceof FileReadStream)) {
    for await (const chunk of input) yield typeof chunk === 'string' ? Buffer.from(chunk) : (chunk as Buffer);
    return;
  }
  const buffers = [0, 1, 2].map(() => Buffer.allocUnsafeSlow(HEADROOM + input.chunkBytes));
  const readInto = (buffer: Buffer) => input.readInto(buffer.subarray(HEADROOM));
  let turn = 0;
  let reading = readInto(buffers[0]!);
  try {
    for (;;) {
      const n = await reading;
      if (n === 0) return;
      const chunk = buffers[turn]!.subarray(HEADROOM, HEADROOM + n);
      turn = (turn + 1) % buffers.length;
      reading = readInto(buffers[turn]!);
      withHeadroom.add(chunk);
      yield chunk;
    }
  } finally {
    // A consumer that stops early leaves a read in flight: it settles before the generator does.
    await reading.catch(() => undefined);
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
