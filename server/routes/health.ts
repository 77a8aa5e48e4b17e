import { Router } from 'express';
import type { BlobStore } from '../../core/blobs/blob-store.js';
import type { Database } from '../../core/db/database.js';

/** Liveness (the process answers) and readiness (database and blob store usable). */
export function healthRouter(deps: { db: Database; blobs: BlobStore }): Router {
  const r = Router();
  r.get('/healthz', (_req, res) => {
    res.json({ status: 'ok' });
  });
  r.get('/readyz', async (_req, res) => {
    const checks: Record<string, string> = {};
    await Promise.all([
      deps.db.prisma.$queryRaw`SELECT 1`.then(
        () => (checks.database = 'ok'),
        (e: Error) => (checks.database = `error: ${e.message.split('\n')[0]}`),
      ),
      deps.blobs.check().then(
        () => (checks.blobs = 'ok'),
        (e: Error) => (checks.blobs = `error: ${e.message}`),
      ),
    ]);
    const ok = Object.values(checks).every((v) => v === 'ok');
    res.status(ok ? 200 : 503).json({ status: ok ? 'ok' : 'unavailable', checks });
  });
  return r;
}
