import express, { type Express } from 'express';
import type { Logger } from 'pino';
import { AuthService } from '../core/auth/auth-service.js';
import type { BlobStore } from '../core/blobs/blob-store.js';
import type { Database } from '../core/db/database.js';
import { DlqService } from '../core/jobs/dlq-service.js';
import { JobsService } from '../core/jobs/jobs-service.js';
import { LiveEvents } from '../core/jobs/live-events.js';
import type { JobTypeRegistry } from '../core/jobs/job-types.js';
import type { JobQueue } from '../core/queue/job-queue.js';
import { authenticate } from './auth.js';
import { continueUnlessUpload } from './continue.js';
import { dashboardRouter } from './dashboard.js';
import { errorHandler, notFound } from './errors.js';
import { corsFor, requestLogger } from './http-middleware.js';
import { apiRateLimit } from './rate-limit.js';
import { createMetrics } from './metrics.js';
import { openApiDocument } from './openapi.js';
import { dlqRouter } from './routes/dlq.js';
import { healthRouter } from './routes/health.js';
import { jobsRouter } from './routes/jobs.js';
import { tokensRouter } from './routes/tokens.js';
import { jobTypesRouter } from './routes/job-types.js';
import { uploadPartsRouter, uploadsRouter } from './routes/uploads.js';
import { FsBlobStore } from '../core/blobs/fs-blob-store.js';
import { supportsMultipart } from '../core/blobs/multipart-uploads.js';
import { UploadsService } from '../core/uploads/uploads-service.js';

export interface AppDeps {
  db: Database;
  blobs: BlobStore;
  queue: JobQueue;
  types: JobTypeRegistry;
  logger: Logger;
  maxUploadBytes: number;
  /** Browser origins allowed to call the API (JOBS_CORS_ORIGINS); none: same origin only. */
  corsOrigins?: string[];
  /** The process's live-update fan-out (one LISTEN); created here when not given. */
  live?: LiveEvents;
  /** Period of the `: ping` comments on live streams (default 15 s; tests shorten it). */
  livePingMs?: number;
  /**
   * Request rate limit per token and cap on a user's active jobs (JOBS_RATE_LIMIT_PER_MINUTE,
   * JOBS_MAX_ACTIVE_JOBS_PER_USER; 0 turns one off); none when absent. `sharedCounts` (default:
   * on PostgreSQL) counts requests in the database, for several API hosts; else in memory.
   */
  limits?: { requestsPerMinute: number; maxActiveJobsPerUser: number; sharedCounts?: boolean };
}

/** Builds the API. Listening is the caller's business (server/main.ts, tests). */
export function createApp(deps: AppDeps): Express {
  const auth = new AuthService(deps.db.prisma);
  const jobs = new JobsService(deps.db.prisma, deps.queue, deps.types, deps.limits);
  const live = deps.live ?? new LiveEvents(deps.db);
  // Direct uploads need a store with multipart sessions (both built-in stores have them).
  const uploads = supportsMultipart(deps.blobs)
    ? new UploadsService(deps.db.prisma, deps.blobs, { maxUploadBytes: deps.maxUploadBytes })
    : undefined;
  const app = express();
  app.disable('x-powered-by');
  app.set('query parser', 'simple');

  app.use(requestLogger(deps.logger));
  if (deps.corsOrigins?.length) app.use(corsFor(deps.corsOrigins));
  const metrics = createMetrics({ db: deps.db, queue: deps.queue, live, logger: deps.logger });
  app.use(metrics.http);

  app.get('/metrics', metrics.handler);
  app.get('/openapi.json', (_req, res) => {
    res.json(openApiDocument());
  });
  app.use(healthRouter(deps));
  // The browser dashboard at `/` (static files, no auth: the page signs in with a token).
  app.use(dashboardRouter());
  const rateLimit = apiRateLimit(deps.db, deps.limits, deps.logger);
  app.use('/api', rateLimit); // requests without a token, by IP (see server/rate-limit.ts)
  // The directory store's part URLs carry their own signature instead of a bearer token.
  if (uploads && deps.blobs instanceof FsBlobStore)
    app.use('/api/uploads', uploadPartsRouter({ uploads, store: deps.blobs }));
  app.use('/api', authenticate(auth), rateLimit); // the rest, by token
  app.use(continueUnlessUpload);
  if (uploads) app.use('/api/uploads', uploadsRouter({ uploads }));
  app.use(
    '/api/jobs',
    jobsRouter({
      jobs,
      blobs: deps.blobs,
      maxUploadBytes: deps.maxUploadBytes,
      live,
      logger: deps.logger,
      pingMs: deps.livePingMs,
    }),
  );
  app.use('/api/job-types', jobTypesRouter(deps.types));
  app.use('/api/dlq', dlqRouter(new DlqService(deps.db.prisma, deps.queue)));
  app.use('/api', tokensRouter(auth));
  app.use(notFound);
  app.use(errorHandler(deps.logger));
  return app;
}
