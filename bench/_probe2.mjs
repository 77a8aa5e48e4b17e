import path from 'node:path';
import { randomUUID } from 'node:crypto';
import { ROOT, scratchDatabase, cleanup } from './lib.mjs';
const dist = (p) => import(path.join(ROOT, 'dist', p));
const { loadConfig } = await dist('core/config.js');
const { openRuntime } = await dist('core/runtime.js');
const { AuthService } = await dist('core/auth/auth-service.js');
const db = await scratchDatabase();
const runtime = await openRuntime(
  loadConfig({ DATABASE_URL: db.url, JOBS_LOG_LEVEL: 'warn', JOBS_DATA_DIR: '/tmp/b7/d' }),
);
const p = runtime.db.prisma;
const auth = new AuthService(p);
const { token } = await auth.createToken({ userName: 'b', admin: true });
const owner = await auth.authenticate(token);
async function t(name, fn, n = 100) {
  const t0 = performance.now();
  for (let i = 0; i < n; i++) await fn();
  console.log(name, ((performance.now() - t0) / n).toFixed(2), 'ms');
}
const data = () => ({ id: randomUUID(), type: 'noop', params: {}, ownerId: owner.userId, maxAttempts: 3 });
await t('job.create', () => p.job.create({ data: data() }));
await t('tx(job.create)', () => p.$transaction(async (tx) => tx.job.create({ data: data() })));
await t('tx(job.create, qm.create)', () =>
  p.$transaction(async (tx) => {
    const j = await tx.job.create({ data: data() });
    await tx.queueMessage.create({ data: { jobId: j.id } });
  }),
);
await t('tx(job.create, qm.create, notify)', () =>
  p.$transaction(async (tx) => {
    const j = await tx.job.create({ data: data() });
    await tx.queueMessage.create({ data: { jobId: j.id } });
    await tx.$executeRaw`SELECT pg_notify('x', '')`;
  }),
);
await t(
  'raw insert',
  () =>
    p.$executeRaw`INSERT INTO jobs (id, type, owner_id) VALUES (${randomUUID()}::uuid, 'noop', ${owner.userId}::uuid)`,
);
await runtime.close();
await cleanup();
