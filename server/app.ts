import express, { type Express } from 'express';
import type { ApiParts } from '../compose/compose.js';
import { AuthService } from '../core/auth/auth-service.js';
import { JobsService } from '../core/jobs/jobs-service.js';
import { authenticate } from './auth.js';
import { continueUnlessUpload } from './continue.js';
import { dashboardRouter } from './dashboard.js';
import { errorHandler, notFound } from './errors.js';
import { corsFor, requestLogger } from './http-middleware.js';
import { apiRateLimit } from './rate-limit.js';
import { createMetrics } from './metrics.js';
import { mountRoutes } from './route.js';
import { apiRoutes } from './routes/index.js';
import { docsAssets } from './routes/docs.js';
import { receivesParts, supportsMultipart } from '../core/blobs/multipart-uploads.js';
import { UploadsService } from '../core/uploads/uploads-service.js';
import { TokenValidity } from '../core/auth/token-validity.js';
import { StreamGuard } from './stream-guard.js';
import { WebhooksService } from '../core/webhooks/webhooks-service.js';

export interface AppDeps extends ApiParts {
  /** Period of the `: ping` comments on live streams (default 15 s; tests shorten it). */
  livePingMs?: number;
  /** How often open streams re-check their token (default 2 s; tests shorten it). */
  streamAuthTtlMs?: number;
}

/**
 * Builds the API over the parts the composition root made (`compose(config).api`). Listening is
 * the caller's business (server/main.ts, tests). The routes are declared in server/routes/ and
 * mounted here in three stages, by who may call them: public (no token), signed (a URL the server
 * signed) and bearer (behind `authenticate`).
 */
export function createApp(deps: AppDeps): Express {
  const auth = new AuthService(deps.db.prisma);
  const webhookPolicy = { allowPrivate: deps.webhookAllowPrivate ?? false };
  const jobs = new JobsService(deps.db.prisma, deps.store, deps.types, deps.limits, webhookPolicy);
  const webhooks = new WebhooksService(deps.db.prisma, jobs, { ...webhookPolicy, clock: deps.clock });
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
  const metrics = createMetrics({ db: deps.db, queue: deps.queue, live: deps.live, logger: deps.logger });
  app.use(metrics.http);

  const routes = apiRoutes({
    ...deps,
    auth,
    jobs,
    webhooks,
    uploads,
    // The directory store's part URLs carry their own signature instead of a bearer token.
    partStore: uploads && receivesParts(deps.blobs) ? deps.blobs : undefined,
    streams,
    metrics: metrics.handler,
    webhookPolicy,
  });
  const rateLimit = apiRateLimit(deps.db, deps.limits, deps.logger);
  app.use('/api', rateLimit); // requests without a token, by IP (see server/rate-limit.ts)
  // Part URLs and output download links carry their own signature.
  app.use(mountRoutes(routes, 'signed'));
  app.use('/api', authenticate(auth), rateLimit); // the rest, by token
  app.use(continueUnlessUpload);
  app.use(mountRoutes(routes, 'bearer'));
  // After the API's routes, so an API request (the hot path: POST /api/jobs) does not walk
  // through these first; no path of theirs is under /api. Health, metrics, the OpenAPI document
  // and its rendering at /docs:
  app.use(mountRoutes(routes, 'public'));
  app.use('/docs/assets', docsAssets());
  // The browser dashboard at `/` (static files, no auth: the page signs in with a token).
  app.use(dashboardRouter());
  app.use(notFound);
  app.use(errorHandler(deps.logger));
  return app;
}
