import { createRequire } from 'node:module';

/**
 * Prisma's query compiler (a WASM module) for the generated client: its `getQueryCompilerWasmModule`
 * calls this (scripts/prisma-generate.mjs rewrites the getter after `prisma generate`).
 *
 * Why not Prisma's own getter: it imports an ES module whose one export is the compiler as a 2.2 MB
 * base64 string. ES modules are never unloaded, so that string and the module's source text, 4.4
 * MiB of heap, stayed in every server and worker for its whole life after the first query. Here
 * the same module's CommonJS build is required by a `require` that lives for this call only, and
 * dropped from the module cache once decoded: both strings are garbage at the next collection.
 *
 * The Lambda bundle replaces this module (scripts/lambda-plugins.mjs): there the compiler ships as
 * a binary file beside the bundle and is compiled while the function initializes.
 *
 * @param specifier the CommonJS base64 module of the compiler the client was generated for, e.g.
 *   `@prisma/client/runtime/query_compiler_small_bg.postgresql.wasm-base64.js`
 */
export function queryCompilerModule(specifier: string): Promise<WebAssembly.Module> {
  return WebAssembly.compile(readBase64Module(specifier));
}

function readBase64Module(specifier: string): Buffer<ArrayBuffer> {
  const require = createRequire(import.meta.url);
  const id = require.resolve(specifier);
  const cached = id in require.cache;
  try {
    const { wasm } = require(id) as { wasm: string };
    return Buffer.from(wasm, 'base64');
  } finally {
    // Someone else's copy (required before us) is theirs to keep.
    if (!cached) delete require.cache[id];
  }
}
