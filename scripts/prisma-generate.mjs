// Runs `prisma generate` offline. The Prisma CLI insists on locating a schema-engine binary even
// though `generate` never runs it, and downloading one needs network; any executable will do, so
// we point it at node itself.
import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const cli = require.resolve('prisma/build/index.js');
const env = {
  ...process.env,
  PRISMA_SCHEMA_ENGINE_BINARY: process.env.PRISMA_SCHEMA_ENGINE_BINARY ?? process.execPath,
  PRISMA_HIDE_UPDATE_MESSAGE: '1',
  CHECKPOINT_DISABLE: '1',
};
const res = spawnSync(process.execPath, [cli, 'generate'], { stdio: 'inherit', env });
process.exit(res.status ?? 1);
