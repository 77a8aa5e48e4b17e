import { Router } from 'express';
import { z } from 'zod';
import type { JobTypeRegistry } from '../../core/jobs/job-types.js';

/** The registered job types with their parameters as JSON Schema. */
export function jobTypesRouter(types: JobTypeRegistry): Router {
  const r = Router();
  const body = types.all().map((t) => ({
    type: t.type,
    description: t.description,
    input: t.input,
    params: z.toJSONSchema(t.params, { io: 'input', unrepresentable: 'any' }),
  }));
  r.get('/', (_req, res) => {
    res.json(body);
  });
  return r;
}
