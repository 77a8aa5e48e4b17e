import { Router } from 'express';
import type { JobStatsService } from '../../core/jobs/job-stats.js';
import { principalOf } from '../auth.js';
import { statsQuery } from '../schemas.js';
import { parseOr400 } from '../validate.js';

/** GET /api/stats: jobs per status and the last hour's completions and failures (the dashboard's header). */
export function statsRouter(stats: JobStatsService): Router {
  const r = Router();
  r.get('/', async (req, res) => {
    const q = parseOr400(statsQuery, req.query, 'query');
    res.json(await stats.stats(principalOf(res), q));
  });
  return r;
}
