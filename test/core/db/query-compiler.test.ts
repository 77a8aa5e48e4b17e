import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, expect, it } from '@jest/globals';
import { GENERATED_CLASS_FILE, queryCompilerSpecifier } from '../../../scripts/prisma-query-compiler.mjs';

const ROOT = path.resolve(import.meta.dirname, '../../..');
const GENERATED_CLASS = path.join(ROOT, GENERATED_CLASS_FILE);

/**
 * Heap kept after loading the compiler, in a fresh `node --expose-gc`: through core/db/query-compiler
 * (as the client does) and, for comparison, through the ES module Prisma's own getter imports.
 */
function heapKept(how: 'queryCompilerModule' | 'prisma-esm', specifier: string) {
  const moduleUrl = pathToFileURL(path.join(ROOT, 'dist/core/db/query-compiler.js')).href;
  const script = `
    import { createRequire } from 'node:module';
    const require = createRequire(${JSON.stringify(path.join(ROOT, 'package.json'))});
    const full = () => { globalThis.gc(); globalThis.gc(); };
    full();
    const before = process.memoryUsage().heapUsed;
    let mod;
    if (${JSON.stringify(how)} === 'queryCompilerModule') {
      const { queryCompilerModule } = await import(${JSON.stringify(moduleUrl)});
      mod = await queryCompilerModule(${JSON.stringify(specifier)});
    } else {
      const { wasm } = await import(${JSON.stringify(specifier.replace(/\.js$/, '.mjs'))});
      mod = await WebAssembly.compile(Buffer.from(wasm, 'base64'));
    }
    full();
    console.log(JSON.stringify({
      keptMiB: (process.memoryUsage().heapUsed - before) / 1048576,
      exports: WebAssembly.Module.exports(mod).length,
      cached: require.resolve(${JSON.stringify(specifier)}) in require.cache,
    }));
  `;
  const run = spawnSync(process.execPath, ['--expose-gc', '--input-type=module', '-e', script], {
    cwd: ROOT,
    encoding: 'utf8',
  });
  if (run.status !== 0) throw new Error(run.stderr);
  return JSON.parse(run.stdout) as { keptMiB: number; exports: number; cached: boolean };
}

describe("Prisma's query compiler (core/db/query-compiler.ts)", () => {
  const source = fs.readFileSync(GENERATED_CLASS, 'utf8');
  const specifier = queryCompilerSpecifier(source);

  it('is what the generated client loads (the build rewrote its getter)', () => {
    expect(specifier).toMatch(/^@prisma\/client\/runtime\/query_compiler_[\w.]+\.wasm-base64\.js$/);
    expect(source).not.toMatch(/wasm-base64\.mjs/);
  });

  it('compiles the module and keeps neither its base64 string nor the source that held it', () => {
    const ours = heapKept('queryCompilerModule', specifier);
    expect(ours.exports).toBeGreaterThan(0);
    expect(ours.cached).toBe(false);
    // The ES module path keeps both strings (~4.4 MiB): the measurement sees what it looks for.
    const prisma = heapKept('prisma-esm', specifier);
    expect(prisma.exports).toBe(ours.exports);
    expect(prisma.keptMiB).toBeGreaterThan(3.5);
    expect(ours.keptMiB).toBeLessThan(1);
  });
});
