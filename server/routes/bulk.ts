import type { BulkActions, BulkTarget } from '../../core/jobs/bulk-actions.js';
import { errorBody } from '../errors.js';
import { defineRoute, type Route } from '../route.js';
import { bulkBody, bulkResponse } from '../schemas.js';

/**
 * POST /api/jobs/bulk: retry or cancel up to 100 jobs, named by `ids` or by a list `filter`, each
 * with its own result (see BulkActions). A request wrong as a whole (no action, both or neither
 * of ids and filter, too many ids, a filter status the action does not apply to, `all` without
 * job:ReadAll) is refused whole and changes nothing.
 */
export function bulkRoutes(bulk: BulkActions): Route[] {
  const bulkJobs = defineRoute({
    method: 'post',
    path: '/api/jobs/bulk',
    operationId: 'bulkJobs',
    tag: 'jobs',
    auth: 'bearer',
    summary: 'Retry or cancel many jobs: up to 100 by `ids`, or those a list `filter` shows',
    description:
      'Each job is handled on its own, as its single route would (`POST /api/jobs/:id/retry` or `/cancel`: ownership, permissions, state, the active-jobs quota), and gets its own result, in the order of `ids` (a filter: oldest first); one job failing does not stop the others. A `filter` selects, among the jobs the action applies to (retry: FAILED or CANCELLED; cancel: PENDING or RUNNING), those `GET /api/jobs` with the same `status`, `type`, `all` and `idPrefix` shows, oldest first, at most 100: `more: true` says more matched (send the request again). A cancel asks a RUNNING job to stop and does not wait for it. A request wrong as a whole (an unknown action, both or neither of `ids` and `filter`, more than 100 ids, a filter `status` the action does not apply to, `all` without job:ReadAll) answers 400 or 403 and changes nothing.',
    json: {
      schema: bulkBody,
      limit: '64kb',
      requireJson: 'send application/json: {"action":"retry","ids":[…]}',
    },
    responses: { 200: { description: 'one result per job', schema: bulkResponse } },
    errors: [400, 403, 413, 415],
    async handler({ body, principal }) {
      const target: BulkTarget = body.ids ? { ids: body.ids } : { filter: body.filter! };
      const out = await bulk.run(principal, body.action, target);
      const results = out.results.map((r) =>
        'job' in r
          ? { id: r.id, status: 200, job: r.job }
          : { id: r.id, status: r.error.status, ...errorBody(r.error) },
      );
      return {
        action: out.action,
        succeeded: results.filter((r) => r.status === 200).length,
        failed: results.filter((r) => r.status !== 200).length,
        more: out.more,
        results,
      };
    },
  });
  return [bulkJobs];
}
