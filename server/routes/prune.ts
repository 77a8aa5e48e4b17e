import { DURATION_HINT, parseDuration } from '../../core/duration.js';
import { ValidationError } from '../../core/errors.js';
import type { RetentionService } from '../../core/jobs/retention.js';
import { defineRoute, type Route } from '../route.js';
import { pruneBody, pruneResponse } from '../schemas.js';

/**
 * `POST /api/prune` (admins, `job:ManageAll`): deletes every user's finished jobs older than
 * `olderThan` (default: the server's retention), with their logs and input files, or with
 * `dryRun` says how many it would. What `jobs prune` calls; the same as the periodic retention.
 */
export function pruneRoutes(deps: { retention: RetentionService; retentionDays: number }): Route[] {
  const pruneJobs = defineRoute({
    method: 'post',
    path: '/api/prune',
    operationId: 'pruneJobs',
    tag: 'retention',
    auth: 'bearer',
    permission: { name: 'job:ManageAll', doing: 'deleting finished jobs' },
    summary:
      "Admins (job:ManageAll): delete every user's finished jobs older than `olderThan` (default JOBS_RETENTION_DAYS), with their logs, input and output files",
    description:
      'What `jobs prune` calls, and what every `jobs server` and `jobs worker` runs hourly with JOBS_RETENTION_DAYS (default 30; 0 keeps jobs forever). Deletes in batches of 200, so the API keeps answering. `dryRun` only counts.',
    json: { schema: pruneBody, limit: '16kb', strict: false, whenAbsent: {} },
    responses: { 200: { description: 'what was (or would be) deleted', schema: pruneResponse } },
    errors: [400, 403, 413, 415],
    async handler({ body }) {
      let olderThanMs: number;
      if (body.olderThan !== undefined) {
        const ms = parseDuration(body.olderThan);
        if (ms === null || ms <= 0)
          throw new ValidationError(
            `olderThan must be ${DURATION_HINT}; got ${JSON.stringify(body.olderThan)}`,
          );
        olderThanMs = ms;
      } else if (deps.retentionDays > 0) {
        olderThanMs = deps.retentionDays * 86_400_000;
      } else {
        throw new ValidationError(
          'this server keeps finished jobs forever (JOBS_RETENTION_DAYS=0): give olderThan (e.g. "30d")',
        );
      }
      const result = await deps.retention.prune({ olderThanMs, dryRun: body.dryRun });
      return { ...result, cutoff: result.cutoff.toISOString(), oldest: result.oldest?.toISOString() ?? null };
    },
  });
  return [pruneJobs];
}
