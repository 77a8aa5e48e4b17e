// esbuild plugins of the Lambda bundle (scripts/build-lambda.mjs): each removes work a cold start
// would otherwise do before its first job (BENCHMARKS.md `## lambda` has the measurements).
import fs from 'node:fs';
import { builtinModules, createRequire } from 'node:module';
import path from 'node:path';
import { GENERATED_CLASS_FILE, queryCompilerSpecifier } from './prisma-query-compiler.mjs';

/** The query compiler, as a file beside index.mjs in the zip. */
export const QUERY_COMPILER_FILE = 'query_compiler_bg.wasm';

const QUERY_COMPILER_MODULE = /[\\/]core[\\/]db[\\/]query-compiler\.ts$/;

/**
 * Prisma's generated client gets its WASM query compiler from core/db/query-compiler.ts, which
 * decodes it from a 2.3 MB base64 string in a JavaScript module (57% of the bundle if bundled):
 * every cold start would parse that string as JavaScript, decode it and compile the module at the
 * first query. Here the compiler ships as a binary file in the zip (`writeQueryCompiler`), and that
 * module is replaced by one that gets it from `WebAssembly.compile` (V8 compiles on its own
 * threads), started when the bundle loads so that it is ready by the first query.
 */
export function prismaQueryCompilerFile() {
  return {
    name: 'prisma-query-compiler-file',
    setup(build) {
      build.onLoad({ filter: QUERY_COMPILER_MODULE }, () => ({
        // import.meta.url is the chunk's own URL: every chunk sits beside the .wasm file.
        contents: `
          import { readFileSync } from 'node:fs';
          let compiled;
          export function queryCompilerModule() {
            compiled ??= WebAssembly.compile(readFileSync(new URL('./${QUERY_COMPILER_FILE}', import.meta.url)));
            return compiled;
          }
          // Started at load (the Lambda's INIT); a failure surfaces at the first query instead.
          queryCompilerModule().catch(() => {});
        `,
        loader: 'js',
        resolveDir: process.cwd(),
      }));
    },
  };
}

/** Writes the query compiler the generated client in `root` uses to `outDir`, as binary. */
export async function writeQueryCompiler(root, outDir) {
  const source = fs.readFileSync(path.join(root, GENERATED_CLASS_FILE), 'utf8');
  const { wasm } = createRequire(path.join(root, 'package.json'))(queryCompilerSpecifier(source));
  fs.writeFileSync(path.join(outDir, QUERY_COMPILER_FILE), Buffer.from(wasm, 'base64'));
}

/**
 * zod's `z` namespace re-exports every locale (`z.locales.fr()`…), 258 KiB that each cold start
 * parses although jobs never calls `z.config`; its English messages are imported by zod's
 * schemas directly. The bundle keeps only `z.locales.en`.
 */
export function zodEnglishOnly() {
  return {
    name: 'zod-english-only',
    setup(build) {
      build.onLoad({ filter: /[\\/]zod[\\/]v4[\\/]locales[\\/]index\.js$/ }, (args) => ({
        contents: `export { default as en } from './en.js';\n`,
        loader: 'js',
        resolveDir: path.dirname(args.path),
      }));
    },
  };
}

/**
 * Node's built-in modules imported by ES modules (`import { request } from 'node:http'`, as the
 * AWS SDK's ES builds do) get an ES module facade, which reads every export of the module when it
 * is linked: on Node 22 `http`'s lazy `WebSocket` getter then loads undici, tens of milliseconds of
 * a cold start spent on a WebSocket client nothing uses. Here such imports go through
 * `require()` (esbuild's CommonJS interop reads a property only when the code uses it).
 */
const DYNAMIC_BUILTIN = /\bimport\(\s*["'](?:node:)?[a-z_/0-9]+["']\s*\)/;
const DYNAMIC_BUILTIN_ALL = /\bimport\(\s*["'](?:node:)?([a-z_/0-9]+)["']\s*\)/g;

export function builtinsThroughRequire() {
  const builtins = new Set(builtinModules.filter((m) => !m.startsWith('_')));
  return {
    name: 'builtins-through-require',
    setup(build) {
      build.onResolve({ filter: /^(node:)?[a-z_/]+$/ }, (args) => {
        const name = args.path.replace(/^node:/, '');
        // Not `import()`: a chunk of CommonJS would hand it only a `default` (see below).
        if (args.kind !== 'import-statement' || !builtins.has(name)) return undefined;
        return { path: name, namespace: 'builtin-through-require' };
      });
      // `await import('node:http')` (the SDK's HTTP handler, at its first request) would take the
      // facade too: it becomes process.getBuiltinModule, the module itself, as require() gives
      // it. The code reads names from it (`{ request }`, `E.default ?? E`), which both have.
      build.onLoad({ filter: /[\\/]node_modules[\\/].*\.m?js$/ }, async (args) => {
        const source = await fs.promises.readFile(args.path, 'utf8');
        if (!DYNAMIC_BUILTIN.test(source)) return undefined;
        const contents = source.replace(DYNAMIC_BUILTIN_ALL, (whole, name) =>
          builtins.has(name) ? `Promise.resolve(process.getBuiltinModule("node:${name}"))` : whole,
        );
        return { contents, loader: 'js', resolveDir: path.dirname(args.path) };
      });
      build.onLoad({ filter: /.*/, namespace: 'builtin-through-require' }, (args) => ({
        contents: `module.exports = require(${JSON.stringify(`node:${args.path}`)});\n`,
        loader: 'js',
      }));
    },
  };
}
