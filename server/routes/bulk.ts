import express, { Router } from 'express';
import type { BulkActions, BulkTarget } from '../../core/jobs/bulk-actions.js';
import type { JobStatus } from '../../core/jobs/job-dto.js';
import { UnsupportedMediaTypeError } from '../../core/errors.js';
import { principalOf } from '../auth.js';
import { errorBody } from '../errors.js';
import { bulkBody } from '../schemas.js';
import { parseOr400 } from '../validate.js';

/**
 * POST /api/jobs/bulk: retry or cancel up to 100 jobs, named by `ids` or by a list `filter`, each
 * with its own result (see BulkActions). A request wrong as a whole (no action, both or neither
 * of ids and filter, too many ids, a filter status the action does not apply to, `all` without
 * job:ReadAll) is refused whole and changes nothing.
 */
export function bulkRouter(bulk: BulkActions): Router {
  const r = Router();
  r.post('/', express.json({ limit: '64kb', strict: true }), async (req, res) => {
    if (!req.is('application/json'))
      throw new UnsupportedMediaTypeError('send application/json: {"action":"retry","ids":[…]}');
    const body = parseOr400(bulkBody, req.body, 'body');
    const target: BulkTarget = body.ids
      ? { ids: body.ids }
      : { filter: { ...body.filter!, status: body.filter!.status as JobStatus | undefined } };
    const out = await bulk.run(principalOf(res), body.action, target);
    const results = out.results.map((r) =>
      'job' in r
        ? { id: r.id, status: 200, job: r.job }
        : { id: r.id, status: r.error.status, ...errorBody(r.error) },
    );
    res.json({
      action: out.action,
      succeeded: results.filter((r) => r.status === 200).length,
      failed: results.filter((r) => r.status !== 200).length,
      more: out.more,
      results,
    });
  });
  return r;
}
