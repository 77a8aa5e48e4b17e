import type { DlqService } from '../../core/jobs/dlq-service.js';
import { defineRoute, type Route } from '../route.js';
import { deadLetterListResponse, dlqListQuery, dlqRedriveBody, redriveResponse } from '../schemas.js';

const DLQ_MANAGE = { name: 'dlq:Manage', doing: 'seeing and redriving dead letters' } as const;

/** Admins (`dlq:Manage`): the dead-lettered jobs, and sending them back to the queue. */
export function dlqRoutes(dlq: DlqService): Route[] {
  const listDeadLetters = defineRoute({
    method: 'get',
    path: '/api/dlq',
    operationId: 'listDeadLetters',
    tag: 'dead letters',
    auth: 'bearer',
    permission: DLQ_MANAGE,
    summary:
      'Admins (dlq:Manage): the dead-lettered jobs (given up on after their attempts ran out), newest first',
    query: dlqListQuery,
    responses: { 200: { description: 'the dead letters', schema: deadLetterListResponse } },
    errors: [400, 403],
    handler: ({ query, principal }) => dlq.list(principal, query),
  });

  const redriveDeadLetters = defineRoute({
    method: 'post',
    path: '/api/dlq/redrive',
    operationId: 'redriveDeadLetters',
    tag: 'dead letters',
    auth: 'bearer',
    permission: DLQ_MANAGE,
    summary:
      'Admins (dlq:Manage): send dead-lettered jobs back to the queue with fresh attempts (all, or `ids`)',
    description: 'No body (or `{}`) redrives every dead letter; `{"ids":[…]}` only those jobs.',
    json: { schema: dlqRedriveBody, limit: '1mb', strict: false, whenAbsent: {} },
    responses: { 200: { description: 'what was requeued and moved', schema: redriveResponse } },
    errors: [400, 403, 413, 415],
    handler: ({ body, principal }) => dlq.redrive(principal, body),
  });
  return [listDeadLetters, redriveDeadLetters];
}
