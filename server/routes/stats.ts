import type { JobStatsService } from '../../core/jobs/job-stats.js';
import { defineRoute, type Route } from '../route.js';
import { statsQuery, statsResponse } from '../schemas.js';

/** GET /api/stats: jobs per status and the last hour's completions and failures (the dashboard's header). */
export function statsRoutes(stats: JobStatsService): Route[] {
  const getJobStats = defineRoute({
    method: 'get',
    path: '/api/stats',
    operationId: 'getJobStats',
    tag: 'jobs',
    auth: 'bearer',
    summary: 'Jobs per status, and completions and failures per minute over the last hour',
    description:
      "The caller's own jobs, or every user's with `all=true` (job:ReadAll). `minutes` holds the last 60 whole minutes by `finishedAt` (the current one last, quiet minutes as zeros); `lastHour` sums them, with the failure rate. Every user's `counts` (a count of the whole table) are shared between requests for up to 2 s. What the dashboard's header shows.",
    query: statsQuery,
    responses: { 200: { description: 'the counts', schema: statsResponse } },
    errors: [400, 403],
    handler: ({ query, principal }) => stats.stats(principal, query),
  });
  return [getJobStats];
}
