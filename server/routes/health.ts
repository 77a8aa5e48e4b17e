import type { RequestHandler } from 'express';
import type { BlobStore } from '../../core/blobs/blob-store.js';
import type { Database } from '../../core/db/database.js';
import { defineRoute, type Route } from '../route.js';
import { healthResponse, readyResponse } from '../schemas.js';

/** Liveness (the process answers), readiness (database and blob store usable), and metrics. */
export function healthRoutes(deps: { db: Database; blobs: BlobStore; metrics: RequestHandler }): Route[] {
  const getHealth = defineRoute({
    method: 'get',
    path: '/healthz',
    operationId: 'getHealth',
    tag: 'operations',
    auth: 'public',
    summary: 'Liveness: the process answers',
    responses: { 200: { description: 'alive', schema: healthResponse } },
    handler: () => ({ status: 'ok' }),
  });

  const getReadiness = defineRoute({
    method: 'get',
    path: '/readyz',
    operationId: 'getReadiness',
    tag: 'operations',
    auth: 'public',
    summary: 'Readiness: database and blob store usable',
    description:
      'The blob store check fails (`error: no space left on the device …`) once a write failed for want of space, until a write succeeds again.',
    responses: {
      200: { description: 'ready', schema: readyResponse },
      503: { description: 'a check failed (the same shape, naming it)', schema: readyResponse },
    },
    async handler({ res }) {
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
    },
  });

  const getMetrics = defineRoute({
    method: 'get',
    path: '/metrics',
    operationId: 'getMetrics',
    tag: 'operations',
    auth: 'public',
    summary: 'Prometheus metrics (text exposition format)',
    description:
      'Jobs by status and type, queue depth and oldest message age, job durations, HTTP latency by route, and the process metrics of prom-client.',
    responses: {
      200: {
        description: 'metrics',
        content: { 'text/plain; version=0.0.4': { schema: { type: 'string' } } },
      },
    },
    async handler({ req, res }) {
      await deps.metrics(req, res, () => {});
    },
  });
  return [getHealth, getReadiness, getMetrics];
}
