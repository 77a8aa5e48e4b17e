import path from 'node:path';
import { randomUUID } from 'node:crypto';
import { ROOT, scratchDatabase, cleanup } from './lib.mjs';
const dist = (p) => import(path.join(ROOT, 'dist', p));
const { loadConfig } = await dist('core/config.js');
const { openRuntime } = await dist('core/runtime.js');
const { AuthService } = await dist('core/auth/auth-service.js');
const { JobsService } = await dist('core/jobs/jobs-service.js');
const { JobTypeRegistry } = await dist('core/jobs/job-types.js');
const { handlers } = await dist('processor/handlers/index.js');
const db = await scratchDatabase();
const runtime = await openRuntime(
  loadConfig({ DATABASE_URL: db.url, JOBS_LOG_LEVEL: 'warn', JOBS_DATA_DIR: '/tmp/b7/d' }),
);
const auth = new AuthService(runtime.db.prisma);
const { token } = await auth.createToken({ userName: 'b', admin: true });
const owner = await auth.authenticate(token);
const jobs = new JobsService(runtime.db.prisma, runtime.queue, new JobTypeRegistry(handlers));
for (const inflight of [1, 8]) {
  const t0 = performance.now();
  let next = 0;
  const N = 200;
  await Promise.all(
    Array.from({ length: inflight }, async () => {
      while (next++ < N) await jobs.create(owner, { id: randomUUID(), type: 'noop', params: {} });
    }),
  );
  console.log('inflight', inflight, (N / ((performance.now() - t0) / 1000)).toFixed(0), 'creates/s');
}
const t0 = performance.now();
for (let i = 0; i < 200; i++) await runtime.db.prisma.$queryRaw`SELECT 1`;
console.log('SELECT 1 roundtrip', ((performance.now() - t0) / 200).toFixed(2), 'ms');
const t1 = performance.now();
for (let i = 0; i < 100; i++)
  await runtime.db.prisma.$transaction(async (tx) => {
    await tx.$queryRaw`SELECT 1`;
  });
console.log('empty interactive tx', ((performance.now() - t1) / 100).toFixed(2), 'ms');
await runtime.close();
await cleanup();
