// Bundles the processor Lambda (processor/lambda.ts) with esbuild into ESM files and zips them:
// dist-lambda/processor.zip, ready for UpdateFunctionCode or the cdktf asset. The zip holds
// index.mjs (the handler, "index.handler"), the chunks it imports on demand (chunk-*.mjs: the
// AWS SDK clients, loaded only when a job or the configuration needs them) and Prisma's WASM
// query compiler as a binary file. No node_modules, no Prisma Rust engine, no dev dependencies.
// What a cold start parses is kept small (scripts/lambda-plugins.mjs); prints the zip's size.
//
//   node scripts/build-lambda.mjs [--out-dir DIR] [--analyze]
//
// With JOBS_HANDLERS set (comma-separated paths of a deployment's own handler modules, as for
// `jobs server`), the entry is generated: it imports each module statically, so esbuild bundles
// it and what it imports (resolved from the module's own directory, as Node would), and exports
// `handler = createLambdaHandler([...their handlers])`. The modules' exports are read by
// compose/handler-modules.ts `handlersOf`, so the shapes accepted are `jobs server`'s; the bundle
// is imported once here to check them (and that no type clashes with a built-in) at build time.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import AdmZip from 'adm-zip';
import { build } from 'esbuild';
import {
  builtinsThroughRequire,
  prismaQueryCompilerFile,
  QUERY_COMPILER_FILE,
  writeQueryCompiler,
  zodEnglishOnly,
} from './lambda-plugins.mjs';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const { values } = parseArgs({
  options: { 'out-dir': { type: 'string' }, analyze: { type: 'boolean' } },
});
const outDir = path.resolve(values['out-dir'] ?? path.join(root, 'dist-lambda'));
fs.rmSync(outDir, { recursive: true, force: true });

// A deployment's own handler modules, resolved against the working directory as core/config.ts
// does; under `npm run build:lambda` (npm runs scripts in the package root), the directory npm
// was run from.
const cwd = (process.env.npm_lifecycle_event === 'build:lambda' && process.env.INIT_CWD) || process.cwd();
const modules = (process.env.JOBS_HANDLERS ?? '')
  .split(',')
  .map((s) => s.trim())
  .filter(Boolean)
  .map((p) => path.resolve(cwd, p));
for (const m of modules) {
  if (!fs.existsSync(m)) {
    console.error(`JOBS_HANDLERS: cannot load ${m}: no such file`);
    process.exit(1);
  }
}

/** The generated entry: processor/lambda.ts's createLambdaHandler over the modules' handlers. */
function entryWithHandlers() {
  const src = (p) => JSON.stringify(path.join(root, p));
  const lines = [
    `import { createLambdaHandler } from ${src('processor/lambda.ts')};`,
    `import { handlersOf } from ${src('compose/handler-modules.ts')};`,
    `import { builtinHandlers, handlersByType } from ${src('processor/handlers/index.ts')};`,
    ...modules.map((m, i) => `import * as m${i} from ${JSON.stringify(m)};`),
    `const extra = [${modules.map((m, i) => `...handlersOf(m${i}, ${JSON.stringify(m)})`).join(', ')}];`,
    // A clash with a built-in fails here, at import (the build's check, the Lambda's init).
    'handlersByType([...builtinHandlers, ...extra]);',
    'export const handler = createLambdaHandler(extra);',
  ];
  return lines.join('\n');
}

const outfile = path.join(outDir, 'index.mjs');
let result;
try {
  result = await build({
    ...(modules.length > 0
      ? {
          stdin: {
            contents: entryWithHandlers(),
            resolveDir: root,
            sourcefile: 'lambda-entry.mjs',
            loader: 'js',
          },
        }
      : { entryPoints: [path.join(root, 'processor', 'lambda.ts')] }),
    outdir: outDir,
    entryNames: 'index',
    // Dynamic imports become chunks read only when imported: a cold start does not parse the S3,
    // SQS or Secrets Manager client unless its job or its configuration needs it.
    splitting: true,
    // The ES module builds of packages that have one (the AWS SDK's): a chunk made of a CommonJS
    // module exposes only its `default` to `await import()`, and ES modules tree-shake.
    mainFields: ['module', 'main'],
    chunkNames: 'chunk-[hash]',
    outExtension: { '.js': '.mjs' },
    plugins: [prismaQueryCompilerFile(), zodEnglishOnly(), builtinsThroughRequire()],
    bundle: true,
    platform: 'node',
    target: 'node22',
    format: 'esm',
    minify: true,
    sourcemap: 'external',
    legalComments: 'none',
    metafile: true,
    // The embedded database is never used in Lambda (DATABASE_URL is required there).
    external: ['@electric-sql/pglite', 'pglite-prisma-adapter'],
    // CommonJS dependencies inside an ESM bundle still call require().
    banner: {
      js: "import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);",
    },
    logLevel: 'warning',
  });
} catch (err) {
  // esbuild has printed its errors (e.g. a module's import that cannot be resolved from its directory).
  if (Array.isArray(err.errors)) process.exit(1);
  throw err;
}

await writeQueryCompiler(root, outDir);

if (modules.length > 0) {
  // Loading the bundle reads the modules' exports (no database, no invocation): a bad shape or a
  // clash is the same one sentence `jobs server` gives, now rather than at the first cold start.
  try {
    await import(pathToFileURL(outfile).href);
  } catch (err) {
    console.error(err.message);
    fs.rmSync(outDir, { recursive: true, force: true });
    process.exit(1);
  }
}

const zip = new AdmZip();
// The bundle's files; the source maps stay out (for reading stack traces here, not in Lambda).
for (const f of fs.readdirSync(outDir).sort())
  if (!f.endsWith('.map')) zip.addLocalFile(path.join(outDir, f));
const zipPath = path.join(outDir, 'processor.zip');
zip.writeZip(zipPath);

const bundleBytes = fs
  .readdirSync(outDir)
  .filter((f) => f.endsWith('.mjs'))
  .reduce((n, f) => n + fs.statSync(path.join(outDir, f)).size, 0);
const wasmBytes = fs.statSync(path.join(outDir, QUERY_COMPILER_FILE)).size;
const zipBytes = fs.statSync(zipPath).size;
const mb = (n) => `${(n / 1024 / 1024).toFixed(2)} MiB`;
console.log(`lambda bundle: ${mb(bundleBytes)} of JavaScript (index.mjs + chunks, handler "index.handler")`);
console.log(`query compiler: ${mb(wasmBytes)} (${QUERY_COMPILER_FILE})`);
if (modules.length > 0)
  console.log(`job types of:  ${modules.map((m) => path.relative(cwd, m)).join(', ')} (JOBS_HANDLERS)`);
console.log(`lambda zip:    ${mb(zipBytes)} ${path.relative(process.cwd(), zipPath)}`);
if (values.analyze) {
  const { analyzeMetafile } = await import('esbuild');
  console.log(await analyzeMetafile(result.metafile));
}
