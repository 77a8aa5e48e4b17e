import { z } from 'zod';
import type { JobTypeRegistry } from '../../core/jobs/job-types.js';
import { defineRoute, type Route } from '../route.js';
import { jobTypeResponse } from '../schemas.js';

/** The registered job types with their parameters as JSON Schema. */
export function jobTypesRoutes(types: JobTypeRegistry): Route[] {
  const body = types.all().map((t) => ({
    type: t.type,
    description: t.description,
    input: t.input,
    params: z.toJSONSchema(t.params, { io: 'input', unrepresentable: 'any' }),
  }));
  const listJobTypes = defineRoute({
    method: 'get',
    path: '/api/job-types',
    operationId: 'listJobTypes',
    tag: 'jobs',
    auth: 'bearer',
    summary: 'The registered job types and their parameters (JSON Schema)',
    responses: { 200: { description: 'job types', schema: z.array(jobTypeResponse) } },
    handler: () => body,
  });
  return [listJobTypes];
}
