import { DownloadLinks, outputsRouter, signedOutputsRouter } from './routes/outputs.js';
import express, { type Express } from 'express';
import type { ApiParts } from '../compose/compose.js';
import { AuthService } from '../core/auth/auth-service.js';
import { DlqService } from '../core/jobs/dlq-service.js';
import { JobsService } from '../core/jobs/jobs-service.js';
import { authenticate } from './auth.js';
import { continueUnlessUpload } from './continue.js';
import { dashboardRouter } from './dashboard.js';
import { errorHandler, notFound } from './errors.js';
import { corsFor, requestLogger } from './http-middleware.js';
import { apiRateLimit } from './rate-limit.js';
import { createMetrics } from './metrics.js';
import { openApiDocument } from './openapi.js';
import { pruneRouter } from './routes/prune.js';
import { dlqRouter } from './routes/dlq.js';
import { healthRouter } from './routes/health.js';
import { jobsRouter } from './routes/jobs.js';
import { bulkRouter } from './routes/bulk.js';
import { statsRouter } from './routes/stats.js';
import { BulkActions } from '../core/jobs/bulk-actions.js';
import { JobStatsService } from '../core/jobs/job-stats.js';
import { tokensRouter } from './routes/tokens.js';
import { schedulesRouter } from './routes/schedules.js';
import { SchedulesService } from '../core/schedules/schedules-service.js';
import { jobTypesRouter } from './routes/job-types.js';
import { uploadPartsRouter, uploadsRouter } from './routes/uploads.js';
import { receivesParts, supportsMultipart } from '../core/blobs/multipart-uploads.js';
import { UploadsService } from '../core/uploads/uploads-service.js';
import { TokenValidity } from '../core/auth/token-validity.js';
import { StreamGuard } from './stream-guard.js';
import { WebhooksService } from '../core/webhooks/webhooks-service.js';
import { jobDeliveriesRouter, webhooksRouter } from './routes/webhooks.js';

export interface AppDeps extends ApiParts {
  /** Period of the `: ping` comments on live streams (default 15 s; tests shorten it). */
  livePingMs?: number;
  /** How often open streams re-check their token (default 2 s; tests shorten it). */
  streamAuthTtlMs?: number;
}

/**
 * Builds the API over the parts the composition root made (`compose(config).api`). Listening is
 * the caller's business (server/main.ts, tests).
 */
export function createApp(deps: AppDeps): Express {
  const auth = new AuthService(deps.db.prisma);
  const webhookPolicy = { allowPrivate: deps.webhookAllowPrivate ?? false };
  const jobs = new JobsService(deps.db.prisma, deps.store, deps.types, deps.limits, webhookPolicy);
  const webhooks = new WebhooksService(deps.db.prisma, jobs, { ...webhookPolicy, clock: deps.clock });
  const live = deps.live;
  const streams = new StreamGuard(
    new TokenValidity((ids) => auth.activeTokenIds(ids), { ttlMs: deps.streamAuthTtlMs }),
    deps.maxStreamsPerToken,
  );
  // Direct uploads need a store with multipart sessions (both built-in stores have them).
  const uploads = supportsMultipart(deps.blobs)
    ? new UploadsService(deps.db.prisma, deps.blobs, {
        maxUploadBytes: deps.maxUploadBytes,
        maxOpenUploads: deps.maxOpenUploads,
      })
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
  const rateLimit = apiRateLimit(deps.db, deps.limits, deps.logger);
  app.use('/api', rateLimit); // requests without a token, by IP (see server/rate-limit.ts)
  // The directory store's part URLs carry their own signature instead of a bearer token.
  if (uploads && receivesParts(deps.blobs))
    app.use('/api/uploads', uploadPartsRouter({ uploads, store: deps.blobs }));
  // Output download links carry their own signature too (the dashboard's downloads).
  const links = new DownloadLinks();
  app.use('/api/jobs', signedOutputsRouter({ jobs, blobs: deps.blobs, links }));
  app.use('/api', authenticate(auth), rateLimit); // the rest, by token
  app.use(continueUnlessUpload);
  if (uploads) app.use('/api/uploads', uploadsRouter({ uploads, publicUrl: deps.publicUrl }));
  // Before /api/jobs, whose `/:id` routes would take "bulk" for an id.
  app.use('/api/jobs/bulk', bulkRouter(new BulkActions(deps.db.prisma, jobs)));
  app.use('/api/stats', statsRouter(new JobStatsService(deps.db.prisma)));
  app.use(
    '/api/jobs',
    jobsRouter({
      jobs,
      blobs: deps.blobs,
      maxUploadBytes: deps.maxUploadBytes,
      live,
      guard: streams,
      logger: deps.logger,
      pingMs: deps.livePingMs,
      webhooks: webhookPolicy,
    }),
  );
  app.use('/api/jobs', jobDeliveriesRouter(webhooks));
  app.use('/api/webhooks', webhooksRouter(webhooks));
  app.use('/api/jobs', outputsRouter({ jobs, blobs: deps.blobs, links }));
  app.use('/api/job-types', jobTypesRouter(deps.types));
  app.use('/api/schedules', schedulesRouter(new SchedulesService(deps.db.prisma, deps.types, deps.clock)));
  app.use('/api/dlq', dlqRouter(new DlqService(deps.db.prisma, deps.store, deps.queue)));
  app.use('/api/prune', pruneRouter(deps));
  app.use('/api', tokensRouter(auth));
  // After the API's routes, so an API request (the hot path: POST /api/jobs) does not walk
  // through these two routers first; no path of theirs is under /api.
  app.use(healthRouter(deps));
  // The browser dashboard at `/` (static files, no auth: the page signs in with a token).
  app.use(dashboardRouter());
  app.use(notFound);
  app.use(errorHandler(deps.logger));
  return app;
}
