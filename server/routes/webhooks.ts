import express, { Router } from 'express';
import type { WebhooksService } from '../../core/webhooks/webhooks-service.js';
import { principalOf } from '../auth.js';
import { webhookDefaultBody } from '../schemas.js';
import { parseOr400 } from '../validate.js';

/** The caller's webhook settings: the default URL and the signing secret (core/webhooks/). */
export function webhooksRouter(webhooks: WebhooksService): Router {
  const r = Router();
  const body = express.json({ limit: '16kb' });
  r.get('/default', async (_req, res) => {
    res.json(await webhooks.getDefault(principalOf(res)));
  });
  r.put('/default', body, async (req, res) => {
    const b = parseOr400(webhookDefaultBody, req.body, 'body');
    res.json(await webhooks.setDefault(principalOf(res), b.url));
  });
  r.get('/secret', async (_req, res) => {
    res.set('Cache-Control', 'no-store').json(await webhooks.secret(principalOf(res)));
  });
  r.post('/secret/rotate', async (_req, res) => {
    res.set('Cache-Control', 'no-store').json(await webhooks.secret(principalOf(res), { rotate: true }));
  });
  return r;
}

/** A job's webhook deliveries, mounted under /api/jobs. */
export function jobDeliveriesRouter(webhooks: WebhooksService): Router {
  const r = Router();
  r.get('/:id/webhook-deliveries', async (req, res) => {
    res.json(await webhooks.deliveries(principalOf(res), req.params.id));
  });
  return r;
}
