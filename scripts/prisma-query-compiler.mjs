// Where Prisma's generated client gets its WASM query compiler: the build points it at
// core/db/query-compiler.ts (scripts/prisma-generate.mjs), whose reason is in that file's comment;
// the Lambda bundle then swaps that module for a binary file (scripts/lambda-plugins.mjs).

/** The generated client's class, relative to the project's root. */
export const GENERATED_CLASS_FILE = 'core/db/generated/internal/class.ts';

/** Prisma's getter as generated: an ES module holding the compiler as base64. */
const PRISMA_GETTER =
  /getQueryCompilerWasmModule:\s*async\s*\(\)\s*=>\s*\{\s*const \{ wasm \} = await import\("(@prisma\/client\/runtime\/query_compiler_\w+_bg\.\w+\.wasm-base64)\.mjs"\)[\s\S]*?\n\s*\},/;

/** The getter after the rewrite; its argument names the compiler's CommonJS base64 module. */
const REWRITTEN_GETTER = /getQueryCompilerWasmModule: \(\) => queryCompilerModule\("([^"]+)"\),/;

const IMPORT_LINE = "import { queryCompilerModule } from '../../query-compiler.js'\n";

/**
 * The generated class's source with Prisma's getter replaced by a call of `queryCompilerModule`
 * for the same compiler. Throws when the getter is not there as generated (a Prisma upgrade that
 * changed it: this must then be updated, rather than a client built without its compiler).
 */
export function rewriteQueryCompilerGetter(source) {
  const found = PRISMA_GETTER.exec(source);
  if (!found) {
    throw new Error(
      `Prisma's generated client no longer has the getQueryCompilerWasmModule this build rewrites (${GENERATED_CLASS_FILE}); update scripts/prisma-query-compiler.mjs`,
    );
  }
  const getter = `getQueryCompilerWasmModule: () => queryCompilerModule("${found[1]}.js"),`;
  // Before the generated imports, after the header (its `// @ts-nocheck` must stay first).
  const at = source.search(/^import /m);
  return source.slice(0, at) + IMPORT_LINE + source.slice(at).replace(PRISMA_GETTER, getter);
}

/** The compiler module the rewritten class loads (a package specifier), or throws. */
export function queryCompilerSpecifier(source) {
  const found = REWRITTEN_GETTER.exec(source);
  if (!found)
    throw new Error(`no rewritten query compiler getter in ${GENERATED_CLASS_FILE}: run npm run build`);
  return found[1];
}
