import v8 from 'node:v8';
import vm from 'node:vm';

/** Bytes streamed between two young-generation collections. */
export const COLLECT_EVERY_BYTES = 4 * 1024 * 1024;

/**
 * While files are read, a full collection starts once the old generation has grown this much
 * past what the last one left.
 */
const OLD_GENERATION_GROWTH_PER_COLLECTION = 2 * 1024 * 1024;
/** Bytes read from files between two looks at the old generation's size. */
const CHECK_EVERY_READ_BYTES = 1024 * 1024;

/** V8's gc(): young generation only with `{ type: 'minor' }`, a full collection without. */
type Gc = (opts?: { type: 'minor' }) => void;
let gc: Gc | undefined;
let sinceLastCollection = 0;
let readSinceCheck = 0;
/** Old generation in use after the last full collection countReadBytes ran. */
let oldGenerationAfterCollection = 0;
/** The process runs with --optimize-for-size, to be lifted while uploads stream (see below). */
let sizeOptimized = false;
/** Upload streams open now. */
let streaming = 0;
/** Pending return to --optimize-for-size once no stream is open (see streamOpened). */
let restore: NodeJS.Timeout | undefined;
/**
 * How long the mode waits to come back after the last stream closed: the parts of one upload
 * follow each other with a request or two in between, which should not each toggle it.
 */
const RESTORE_AFTER_MS = 2000;

/**
 * Turns the collections on, for this process: called by the server's entry point
 * (cli/lib/v8-flags.ts), as it sets a V8 flag. Until then `countStreamedBytes` and
 * `countReadBytes` only count.
 */
export function collectStreamedBuffers(): void {
  gc ??= youngGc();
}

/**
 * Counts bytes streamed through the process (uploads), running a young-generation collection
 * every 4 MiB of them.
 *
 * Why: each chunk read from a socket is a fresh Buffer whose memory is malloc'd outside the JS
 * heap and freed only when the GC next finds it dead. A stream allocates few JS objects, so the GC
 * runs rarely while one is busy, and a 1 GiB upload piled up 25-30 MB of dead buffers that the
 * allocator then kept (measured: the embedded server's peak RSS went from ~188 to ~168 MiB with
 * a collection every 8 MiB; BENCHMARKS.md, ingest). Every 4 MiB the dead buffers peak at half
 * that, and the heap the upload leaves behind for the import to start from is ~7 MiB smaller
 * (1 GiB import's peak 177-183 -> 173-177 MiB), for an upload a few percent slower: 256
 * collections per GiB, each with little alive (BENCHMARKS.md, ingest, thirteenth session).
 */
export function countStreamedBytes(bytes: number): void {
  sinceLastCollection += bytes;
  if (sinceLastCollection < COLLECT_EVERY_BYTES || !gc) return;
  sinceLastCollection = 0;
  gc({ type: 'minor' });
}

/**
 * Counts bytes read from files (FileReadStream: a job's input, a download), running a full
 * collection whenever the old generation has grown 2 MiB past what the last one left (looked at
 * every 1 MiB read).
 *
 * Why: V8 lets the old generation grow at least 8 MiB past its live size before it collects it.
 * An import promotes about 1 MiB/s of short-lived field strings (each csv-parse record lives
 * through a young collection or two), so the embedded server's heap, and its RSS, rose 8-10 MiB
 * over the live size and fell back, over and over. While every chunk read was a fresh buffer,
 * their external memory made V8 collect sooner anyway; read into reused buffers (read-chunks.ts)
 * nothing did. With a collection per 2 MiB of growth (one every ~2 s of import, ~30 ms each:
 * under 2% of its time) the RSS stays flat through a 1 GiB import (BENCHMARKS.md, ingest,
 * fifteenth session). A fast reader that makes no garbage never triggers one.
 */
export function countReadBytes(bytes: number): void {
  readSinceCheck += bytes;
  if (readSinceCheck < CHECK_EVERY_READ_BYTES || !gc) return;
  readSinceCheck = 0;
  if (oldGenerationSize() < oldGenerationAfterCollection + OLD_GENERATION_GROWTH_PER_COLLECTION) return;
  gc();
  oldGenerationAfterCollection = oldGenerationSize();
}

/**
 * Bytes in use in the old generation, where what outlives young collections goes. Not the whole
 * heap: the young generation fills and empties between young collections (up to 16 MiB per
 * semi-space where its size is not fixed: the PostgreSQL-backed server), which is not growth.
 */
function oldGenerationSize(): number {
  let size = 0;
  for (const space of v8.getHeapSpaceStatistics()) {
    if (space.space_name === 'old_space' || space.space_name === 'large_object_space') {
      size += space.space_used_size;
    }
  }
  return size;
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

/**
 * Turns V8's `--optimize-for-size` on for this process, except while an upload streams (called
 * by the embedded server's entry point, cli/lib/v8-flags.ts).
 *
 * Why not while uploading: in that mode V8 starts a full (mark-compact) collection after every
 * young one, whenever the old generation is above a few MB (heap.cc,
 * IncrementalMarkingLimitReached: `ShouldOptimizeForMemoryUsage()` → hard limit). An upload runs a
 * young collection every few MiB (above), so the embedded server did a full collection of its
 * ~33 MB heap every ~20 MiB: measured during a 1 GiB upload (one young collection every 8 MiB
 * then), 50–70 of them, and the upload took 13–19 s where the PostgreSQL server (no such flag)
 * took 5–7 s. Import, list and idle keep the mode
 * (its memory saving is the import's: BENCHMARKS.md, ingest).
 */
export function optimizeForSizeUnlessStreaming(): void {
  sizeOptimized = true;
  if (streaming === 0) v8.setFlagsFromString('--optimize-for-size');
}

/**
 * Marks an upload stream as open (MeteredStream does, for every upload); the function returned
 * marks it closed, once however often it is called.
 */
export function streamOpened(): () => void {
  if (streaming++ === 0 && sizeOptimized) {
    if (restore) clearTimeout(restore);
    else v8.setFlagsFromString('--no-optimize-for-size');
    restore = undefined;
  }
  let closed = false;
  return () => {
    if (closed) return;
    closed = true;
    if (--streaming === 0 && sizeOptimized) {
      restore = setTimeout(endGracePeriod, RESTORE_AFTER_MS).unref();
    }
  };
}

/** The mode comes back once the grace period after the last upload stream ends. */
function endGracePeriod(): void {
  restore = undefined;
  if (streaming === 0) v8.setFlagsFromString('--optimize-for-size');
}

/**
 * Called as a job in this process opens its input (processor/run-job.ts): the upload that stored
 * it is over, so `--optimize-for-size` comes back now instead of when the parts' grace period
 * (RESTORE_AFTER_MS) runs out. A job starts the moment its upload completes, and without the mode
 * V8 runs no full collection until external memory has grown by 64 MiB: the import's promoted
 * read buffers (each lives through several young collections while it is parsed) then piled up
 * 20-60 MiB in its first second, and that transient was the 1 GiB import's peak RSS
 * (BENCHMARKS.md, ingest, thirteenth session). An upload still streaming keeps the mode off.
 */
export function inputReadStarted(): void {
  if (!restore || streaming > 0) return;
  clearTimeout(restore);
  endGracePeriod();
}
