// Bundles the processor Lambda (processor/lambda.ts) with esbuild into one ESM file and zips it:
// dist-lambda/processor.zip, ready for UpdateFunctionCode or the cdktf asset. No node_modules,
// no Prisma Rust engine (Prisma 7 compiles queries in WASM, inlined in the bundle), no dev
// dependencies. Prints the zip's size.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import AdmZip from 'adm-zip';
import { build } from 'esbuild';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const outDir = path.join(root, 'dist-lambda');
fs.rmSync(outDir, { recursive: true, force: true });

const result = await build({
  entryPoints: [path.join(root, 'processor', 'lambda.ts')],
  outfile: path.join(outDir, 'index.mjs'),
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

const zip = new AdmZip();
zip.addLocalFile(path.join(outDir, 'index.mjs'));
const zipPath = path.join(outDir, 'processor.zip');
zip.writeZip(zipPath);

const bundleBytes = fs.statSync(path.join(outDir, 'index.mjs')).size;
const zipBytes = fs.statSync(zipPath).size;
const mb = (n) => `${(n / 1024 / 1024).toFixed(2)} MiB`;
console.log(`lambda bundle: ${mb(bundleBytes)} (index.mjs, handler "index.handler")`);
console.log(`lambda zip:    ${mb(zipBytes)} ${path.relative(process.cwd(), zipPath)}`);
if (process.argv.includes('--analyze')) {
  const { analyzeMetafile } = await import('esbuild');
  console.log(await analyzeMetafile(result.metafile));
}
