import type { RequestHandler } from 'express';
import type { ApiParts } from '../../compose/compose.js';
import type { AuthService } from '../../core/auth/auth-service.js';
import type { ReceivesParts } from '../../core/blobs/multipart-uploads.js';
import { BulkActions } from '../../core/jobs/bulk-actions.js';
import { DlqService } from '../../core/jobs/dlq-service.js';
import { JobStatsService } from '../../core/jobs/job-stats.js';
import type { JobsService } from '../../core/jobs/jobs-service.js';
import { SchedulesService } from '../../core/schedules/schedules-service.js';
import type { UploadsService } from '../../core/uploads/uploads-service.js';
import type { WebhooksService } from '../../core/webhooks/webhooks-service.js';
import { openApiDocumentOf, type OpenApiOptions } from '../openapi.js';
import type { Route } from '../route.js';
import type { StreamGuard } from '../stream-guard.js';
import { bulkRoutes } from './bulk.js';
import { dlqRoutes } from './dlq.js';
import { docsRoutes } from './docs.js';
import { healthRoutes } from './health.js';
import { jobTypesRoutes } from './job-types.js';
import { jobsRoutes } from './jobs.js';
import { DownloadLinks, outputsRoutes } from './outputs.js';
import { pruneRoutes } from './prune.js';
import { schedulesRoutes } from './schedules.js';
import { statsRoutes } from './stats.js';
import { tokensRoutes } from './tokens.js';
import { uploadsRoutes } from './uploads.js';
import { webhooksRoutes } from './webhooks.js';

export interface RoutesDeps extends ApiParts {
  auth: AuthService;
  jobs: JobsService;
  webhooks: WebhooksService;
  /** Direct uploads, when the store has multipart sessions; `partStore` when it receives parts itself. */
  uploads?: UploadsService;
  partStore?: ReceivesParts;
  streams: StreamGuard;
  metrics: RequestHandler;
  webhookPolicy: { allowPrivate: boolean };
  livePingMs?: number;
}

/**
 * Every route of the API, declared once (server/route.ts): the app mounts them
 * (server/app.ts) and the OpenAPI document is generated from the same list, `/openapi.json`
 * and `/docs` included. A new route goes into one of these modules, or a new one listed here.
 */
export function apiRoutes(deps: RoutesDeps): Route[] {
  // The document is of every route, its own included: built on its first request.
  const document = (o: OpenApiOptions) => documentOf(o);
  const routes: Route[] = [
    ...healthRoutes({ db: deps.db, blobs: deps.blobs, metrics: deps.metrics }),
    ...docsRoutes({ document, publicUrl: deps.publicUrl }),
    ...(deps.uploads
      ? uploadsRoutes({ uploads: deps.uploads, publicUrl: deps.publicUrl, store: deps.partStore })
      : []),
    ...bulkRoutes(new BulkActions(deps.db.prisma, deps.jobs)),
    ...statsRoutes(new JobStatsService(deps.db.prisma)),
    ...jobsRoutes({
      jobs: deps.jobs,
      blobs: deps.blobs,
      maxUploadBytes: deps.maxUploadBytes,
      live: deps.live,
      guard: deps.streams,
      logger: deps.logger,
      pingMs: deps.livePingMs,
      webhooks: deps.webhookPolicy,
    }),
    ...outputsRoutes({ jobs: deps.jobs, blobs: deps.blobs, links: new DownloadLinks() }),
    ...webhooksRoutes(deps.webhooks),
    ...jobTypesRoutes(deps.types),
    ...schedulesRoutes(new SchedulesService(deps.db.prisma, deps.types, deps.clock)),
    ...dlqRoutes(new DlqService(deps.db.prisma, deps.store, deps.queue)),
    ...pruneRoutes(deps),
    ...tokensRoutes(deps.auth),
  ];
  const documentOf = openApiDocumentOf(routes);
  return routes;
}
