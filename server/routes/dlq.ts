import express, { Router } from 'express';
import type { DlqService } from '../../core/jobs/dlq-service.js';
import { principalOf, requires } from '../auth.js';
import { dlqListQuery, dlqRedriveBody } from '../schemas.js';
import { parseOr400 } from '../validate.js';

/** Admins (`dlq:Manage`): the dead-lettered jobs, and sending them back to the queue. */
export function dlqRouter(dlq: DlqService): Router {
  const r = Router();
  r.use(requires('dlq:Manage', 'seeing and redriving dead letters'));
  r.get('/', async (req, res) => {
    const q = parseOr400(dlqListQuery, req.query, 'query');
    res.json(await dlq.list(principalOf(res), q));
  });
  r.post('/redrive', express.json({ limit: '1mb' }), async (req, res) => {
    // No body (or `{}`) redrives every dead letter; `{"ids":[…]}` only those jobs.
    const body = parseOr400(dlqRedriveBody, req.body ?? {}, 'body');
    res.json(await dlq.redrive(principalOf(res), body));
  });
  return r;
}
