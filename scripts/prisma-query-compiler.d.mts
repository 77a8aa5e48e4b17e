// Types of scripts/prisma-query-compiler.mjs, for the tests that read the generated client with it.
export const GENERATED_CLASS_FILE: string;
export function rewriteQueryCompilerGetter(source: string): string;
export function queryCompilerSpecifier(source: string): string;
