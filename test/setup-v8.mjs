// The test entry point's V8 settings, as `jobs server` sets its own (cli/lib/v8-flags.ts): PGlite's
// WASM compiled by Liftoff alone, without TurboFan's second pass, which on a loaded 2-core machine
// costs each suite's in-memory database seconds and ~60 MB. Process-wide and idempotent.
import v8 from 'node:v8';

v8.setFlagsFromString('--liftoff-only');

// The AWS SDK's "Node >= 22 from 2027" warning, once per suite that loads it, as bin/run.js keeps
// it from the CLI's users: noise in the test output. (A test of bin/run.js turns it back on.)
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
