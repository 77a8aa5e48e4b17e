import type { SchedulesService } from '../../core/schedules/schedules-service.js';
import { defineRoute, type Route } from '../route.js';
import {
  createScheduleBody,
  listSchedulesQuery,
  patchScheduleBody,
  scheduleListResponse,
  scheduleResponse,
} from '../schemas.js';
import { SCHEDULE_ID } from './params.js';

const SCHEDULES = `A schedule creates a job of \`type\` with \`params\` at every tick of its cron expression, in its
owner's name (the job carries \`scheduleId\`). Each tick creates exactly one job however many servers and
workers run. A tick refused by the owner's active-jobs quota creates no job: the schedule's \`lastError\`
says why. Ticks missed while nothing ran (more than two minutes late): \`missed: run-once\` (default) creates
one job for the latest of them, \`skip\` none. Ownership is the jobs': \`job:Create\` to create, change
and delete one's own, \`job:Read\` to read them; another user's schedule answers 404 (admins with
\`job:ReadAll\` see it, with \`job:ManageAll\` change it).`;

const JSON_LIMIT = '256kb';

/** Cron schedules: each tick creates a job in the owner's name (core/schedules/). */
export function schedulesRoutes(schedules: SchedulesService): Route[] {
  const createSchedule = defineRoute({
    method: 'post',
    path: '/api/schedules',
    operationId: 'createSchedule',
    tag: 'schedules',
    auth: 'bearer',
    summary: 'Create a cron schedule (job:Create)',
    description: `${SCHEDULES} The cron expression, time zone, job type and params are checked as a job submission's are: a bad one answers 400 and creates nothing. Job types that need an input file cannot be scheduled.`,
    json: { schema: createScheduleBody, limit: JSON_LIMIT },
    responses: { 201: { description: 'the schedule', schema: scheduleResponse } },
    errors: [400, 403, 413, 415],
    handler: ({ body, principal }) => schedules.create(principal, body),
  });

  const listSchedules = defineRoute({
    method: 'get',
    path: '/api/schedules',
    operationId: 'listSchedules',
    tag: 'schedules',
    auth: 'bearer',
    summary: "List the caller's schedules (or everyone's with all=true: job:ReadAll), newest first",
    description: SCHEDULES,
    query: listSchedulesQuery,
    responses: { 200: { description: 'the schedules', schema: scheduleListResponse } },
    errors: [400, 403],
    handler: ({ query, principal }) => schedules.list(principal, query),
  });

  const getSchedule = defineRoute({
    method: 'get',
    path: '/api/schedules/:id',
    operationId: 'getSchedule',
    tag: 'schedules',
    auth: 'bearer',
    summary: 'One schedule',
    params: { id: SCHEDULE_ID },
    responses: { 200: { description: 'the schedule', schema: scheduleResponse } },
    errors: [403, 404],
    handler: ({ req, principal }) => schedules.get(principal, req.params.id),
  });

  const updateSchedule = defineRoute({
    method: 'patch',
    path: '/api/schedules/:id',
    operationId: 'updateSchedule',
    tag: 'schedules',
    auth: 'bearer',
    summary: 'Change, pause (`{"paused":true}`) or resume (`{"paused":false}`) a schedule',
    description:
      'The fields given replace the schedule’s (`params` as a whole; a new `type` is checked with the params it will run with). A new cron expression or time zone, and resuming, take effect from now: the next run is the first tick after now (ticks while paused are not made up).',
    params: { id: SCHEDULE_ID },
    json: { schema: patchScheduleBody, limit: JSON_LIMIT },
    responses: { 200: { description: 'the schedule as changed', schema: scheduleResponse } },
    errors: [400, 403, 404, 413, 415],
    handler: ({ req, body, principal }) => schedules.update(principal, req.params.id, body),
  });

  const deleteSchedule = defineRoute({
    method: 'delete',
    path: '/api/schedules/:id',
    operationId: 'deleteSchedule',
    tag: 'schedules',
    auth: 'bearer',
    summary: 'Delete a schedule (the jobs it created stay)',
    params: { id: SCHEDULE_ID },
    responses: { 200: { description: 'the deleted schedule', schema: scheduleResponse } },
    errors: [403, 404],
    handler: ({ req, principal }) => schedules.delete(principal, req.params.id),
  });
  return [createSchedule, listSchedules, getSchedule, updateSchedule, deleteSchedule];
}
