import v8 from 'node:v8';
import vm from 'node:vm';

/** Bytes streamed between two young-generation collections. */
export const COLLECT_EVERY_BYTES = 8 * 1024 * 1024;

type Gc = (opts: { type: 'minor' }) => void;
let gc: Gc | undefined;
let sinceLastCollection = 0;

/**
 * Turns the collection on, for this process: called by the server's entry point
 * (cli/lib/v8-flags.ts), as it sets a V8 flag. Until then `countStreamedBytes` only counts.
 */
export function collectStreamedBuffers(): void {
  gc ??= youngGc();
}

/**
 * Counts bytes streamed through the process (uploads), running a young-generation collection
 * every 8 MiB of them.
 *
 * Why: each chunk read from a socket is a fresh Buffer whose memory is malloc'd outside the JS
 * heap and freed only when the GC next finds it dead. A stream allocates few JS objects, so the GC
 * runs rarely while one is busy, and a 1 GiB upload piled up 25-30 MB of dead buffers that the
 * allocator then kept (measured: the embedded server's peak RSS went from ~188 to ~168 MiB with
 * this; BENCHMARKS.md, ingest). A young collection with so little alive takes well under a
 * millisecond: 128 of them per GiB.
 */
export function countStreamedBytes(bytes: number): void {
  sinceLastCollection += bytes;
  if (sinceLastCollection < COLLECT_EVERY_BYTES || !gc) return;
  sinceLastCollection = 0;
  gc({ type: 'minor' });
}

/**
 * V8's gc() without `node --expose-gc` on the command line: the flag set at run time exposes
 * gc() to contexts created afterwards, so a new (throwaway) context hands it over. The main
 * context's globals are not touched (later `vm` contexts do get a gc() global, which is harmless).
 */
function youngGc(): Gc {
  v8.setFlagsFromString('--expose-gc');
  return vm.runInNewContext('gc') as Gc;
}
