import express, { Router } from 'express';
import { DURATION_HINT, parseDuration } from '../../core/duration.js';
import { ValidationError } from '../../core/errors.js';
import type { RetentionService } from '../../core/jobs/retention.js';
import { requires } from '../auth.js';
import { pruneBody } from '../schemas.js';
import { parseOr400 } from '../validate.js';

/**
 * `POST /api/prune` (admins, `job:ManageAll`): deletes every user's finished jobs older than
 * `olderThan` (default: the server's retention), with their logs and input files, or with
 * `dryRun` says how many it would. What `jobs prune` calls; the same as the periodic retention.
 */
export function pruneRouter(deps: { retention: RetentionService; retentionDays: number }): Router {
  const r = Router();
  r.post(
    '/',
    requires('job:ManageAll', 'deleting finished jobs'),
    express.json({ limit: '16kb' }),
    async (req, res) => {
      const body = parseOr400(pruneBody, req.body ?? {}, 'body');
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
      res.json({
        ...result,
        cutoff: result.cutoff.toISOString(),
        oldest: result.oldest?.toISOString() ?? null,
      });
    },
  );
  return r;
}
