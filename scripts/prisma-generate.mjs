// Runs `prisma generate` offline. The Prisma CLI insists on locating a schema-engine binary even
// though `generate` never runs it, and downloading one needs network; any executable will do, so
// we point it at node itself. Then points the generated client's query compiler getter at
// core/db/query-compiler.ts (scripts/prisma-query-compiler.mjs).
import fs from 'node:fs';
import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { GENERATED_CLASS_FILE, rewriteQueryCompilerGetter } from './prisma-query-compiler.mjs';

const require = createRequire(import.meta.url);
const cli = require.resolve('prisma/build/index.js');
const env = {
  ...process.env,
  PRISMA_SCHEMA_ENGINE_BINARY: process.env.PRISMA_SCHEMA_ENGINE_BINARY ?? process.execPath,
  PRISMA_HIDE_UPDATE_MESSAGE: '1',
  CHECKPOINT_DISABLE: '1',
};
const res = spawnSync(process.execPath, [cli, 'generate'], { stdio: 'inherit', env });
if (res.status !== 0) process.exit(res.status ?? 1);

const classFile = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', GENERATED_CLASS_FILE);
try {
  fs.writeFileSync(classFile, rewriteQueryCompilerGetter(fs.readFileSync(classFile, 'utf8')));
} catch (err) {
  console.error(err.message);
  process.exit(1);
}
