import v8 from 'node:v8';
import { collectStreamedBuffers, optimizeForSizeUnlessStreaming } from '../../core/blobs/stream-buffers.js';

/**
 * V8 settings of a long-running `jobs server` process, set by its entry point before anything is
 * compiled or allocated (never by an adapter: a library must not retune the process it is in).
 */
export function tuneServerProcess(opts: { embedded: boolean }): void {
  // Uploads: a young-generation GC every few MiB streamed (core/blobs/stream-buffers.ts).
  collectStreamedBuffers();
  if (!opts.embedded) return;
  // V8 compiles WASM twice: at once with its baseline compiler (Liftoff), then hot functions again
  // with TurboFan, whose compile-time memory and second copy of the code cost PGlite's ~9 MB
  // module ~60 MB of RSS, never returned. Liftoff's code is as fast for this workload (measured:
  // inserts and point selects took the same time or less; BENCHMARKS.md), so the embedded server
  // keeps to it. The flag only affects WASM compiled from here on (PGlite's and Prisma's).
  v8.setFlagsFromString('--liftoff-only');
  // The embedded server shares one machine with everything else on it: V8 then grows its heap
  // less eagerly and collects sooner (the heuristics it uses for a background tab), so the garbage
  // of a large import piles up less as RSS (1 GiB import: peak -18 MiB, rows/s -4%). Not while an
  // upload streams: there the mode costs a full collection every ~20 MiB, 2-3x the upload's time
  // (core/blobs/stream-buffers.ts).
  // The young generation stays at its starting size instead of growing under the import's stream
  // of short-lived field strings: the 1 GiB import's peak 187-192 -> 177-179 MiB (the 200 MB
  // criterion had no margin), its time within the run-to-run noise (median +6%; BENCHMARKS.md,
  // ingest, eleventh session).
  v8.setFlagsFromString('--semi-space-growth-factor=1');
  optimizeForSizeUnlessStreaming();
}
