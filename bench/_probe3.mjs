import path from 'node:path';
import { randomUUID } from 'node:crypto';
import { ROOT, scratchDatabase, cleanup } from './lib.mjs';
const dist = (p) => import(path.join(ROOT, 'dist', p));
const { loadConfig } = await dist('core/config.js');
const { openRuntime } = await dist('core/runtime.js');
const db = await scratchDatabase();
const runtime = await openRuntime(
  loadConfig({ DATABASE_URL: db.url, JOBS_LOG_LEVEL: 'warn', JOBS_DATA_DIR: '/tmp/b7/d' }),
);
const p = runtime.db.prisma;
await p.$transaction(async (tx) => {
  const a =
    await tx.$queryRaw`SELECT pg_backend_pid() AS pid, now() AS now, pg_current_xact_id_if_assigned()::text AS x`;
  await tx.$executeRaw`CREATE TEMP TABLE IF NOT EXISTS t1 (x int)`;
  await new Promise((r) => setTimeout(r, 50));
  const b =
    await tx.$queryRaw`SELECT pg_backend_pid() AS pid, now() AS now, pg_current_xact_id_if_assigned()::text AS x`;
  console.log(a, b);
});
const t0 = performance.now();
for (let i = 0; i < 50; i++)
  await p.$transaction(async (tx) => {
    await tx.$executeRaw`INSERT INTO queue_messages (job_id) VALUES (${randomUUID()}::uuid)`;
    await tx.$executeRaw`INSERT INTO queue_messages (job_id) VALUES (${randomUUID()}::uuid)`;
    await tx.$executeRaw`INSERT INTO queue_messages (job_id) VALUES (${randomUUID()}::uuid)`;
  });
console.log('tx of 3 raw inserts', ((performance.now() - t0) / 50).toFixed(2));
const t1 = performance.now();
for (let i = 0; i < 50; i++)
  await p.$executeRaw`INSERT INTO queue_messages (job_id) VALUES (${randomUUID()}::uuid)`;
console.log('1 raw insert', ((performance.now() - t1) / 50).toFixed(2));
await runtime.close();
await cleanup();
