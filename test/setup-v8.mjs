// The test entry point's V8 settings, as `jobs server` sets its own (cli/lib/v8-flags.ts): PGlite's
// WASM compiled by Liftoff alone, without TurboFan's second pass, which on a loaded 2-core machine
// costs each suite's in-memory database seconds and ~60 MB. Process-wide and idempotent.
import v8 from 'node:v8';

v8.setFlagsFromString('--liftoff-only');
