import type { WebhooksService } from '../../core/webhooks/webhooks-service.js';
import { defineRoute, type Route } from '../route.js';
import {
  webhookDefaultBody,
  webhookDefaultResponse,
  webhookDeliveryListResponse,
  webhookSecretResponse,
} from '../schemas.js';
import { JOB_ID } from './params.js';

const WEBHOOKS =
  'When a job with a `webhookUrl` ends (COMPLETED, FAILED, CANCELLED, or given up on: `job.dead_lettered`), the platform POSTs the job (as GET /api/jobs/{id} answers it) to that URL with the headers `Jobs-Event`, `Jobs-Delivery` (the delivery\'s id, the same on every retry: dedupe on it) and `Jobs-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>" under the owner\'s secret>`. A 2xx answer delivers it; anything else (or no answer within JOBS_WEBHOOK_TIMEOUT_SECONDS) is retried with exponential backoff and jitter for 24 hours after the job ended, then given up on. At least once: a receiver may see a delivery twice.';

/** The caller's webhook settings (the default URL, the signing secret) and a job's deliveries. */
export function webhooksRoutes(webhooks: WebhooksService): Route[] {
  const listWebhookDeliveries = defineRoute({
    method: 'get',
    path: '/api/jobs/:id/webhook-deliveries',
    operationId: 'listWebhookDeliveries',
    tag: 'webhooks',
    auth: 'bearer',
    summary: "A job's webhook deliveries, each with its attempts (the job's owner, or job:ReadAll)",
    description: WEBHOOKS,
    params: { id: JOB_ID },
    responses: { 200: { description: 'the deliveries, oldest first', schema: webhookDeliveryListResponse } },
    errors: [403, 404],
    handler: ({ req, principal }) => webhooks.deliveries(principal, req.params.id),
  });

  const getDefaultWebhook = defineRoute({
    method: 'get',
    path: '/api/webhooks/default',
    operationId: 'getDefaultWebhook',
    tag: 'webhooks',
    auth: 'bearer',
    summary: "The caller's default webhook URL (job:Read)",
    responses: { 200: { description: 'the default (null: none)', schema: webhookDefaultResponse } },
    errors: [403],
    handler: ({ principal }) => webhooks.getDefault(principal),
  });

  const setDefaultWebhook = defineRoute({
    method: 'put',
    path: '/api/webhooks/default',
    operationId: 'setDefaultWebhook',
    tag: 'webhooks',
    auth: 'bearer',
    summary: "Set the caller's default webhook URL, or clear it with null (job:Create)",
    description: `A job submitted without its own \`webhookUrl\` gets the default its owner has at submit (changing the default later does not change submitted jobs). The URL is checked as a job's is. ${WEBHOOKS}`,
    json: { schema: webhookDefaultBody, limit: '16kb' },
    responses: { 200: { description: 'the default as set', schema: webhookDefaultResponse } },
    errors: [400, 403, 413, 415],
    handler: ({ body, principal }) => webhooks.setDefault(principal, body.url),
  });

  const getWebhookSecret = defineRoute({
    method: 'get',
    path: '/api/webhooks/secret',
    operationId: 'getWebhookSecret',
    tag: 'webhooks',
    auth: 'bearer',
    summary: "The caller's webhook signing secret, made on first use (job:Create)",
    description: WEBHOOKS,
    responses: { 200: { description: 'the secret', schema: webhookSecretResponse } },
    errors: [403],
    async handler({ res, principal }) {
      res.set('Cache-Control', 'no-store');
      return webhooks.secret(principal);
    },
  });

  const rotateWebhookSecret = defineRoute({
    method: 'post',
    path: '/api/webhooks/secret/rotate',
    operationId: 'rotateWebhookSecret',
    tag: 'webhooks',
    auth: 'bearer',
    summary: 'Replace the signing secret (job:Create); the old one also signs for 24 hours',
    description:
      'Deliveries from now on carry two `v1` signatures (the new secret first) until `previousSecretValidUntil`, so a receiver can switch to the new secret without missing a delivery.',
    responses: { 200: { description: 'the new secret', schema: webhookSecretResponse } },
    errors: [403],
    async handler({ res, principal }) {
      res.set('Cache-Control', 'no-store');
      return webhooks.secret(principal, { rotate: true });
    },
  });
  return [listWebhookDeliveries, getDefaultWebhook, setDefaultWebhook, getWebhookSecret, rotateWebhookSecret];
}
