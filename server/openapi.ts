import fs from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import { packageRoot } from '../core/package-root.js';
import type { JsonSchema, Route, ResponseDecl } from './route.js';
import { responseSchemas } from './schemas.js';

/**
 * The OpenAPI 3.1 document of the API, generated from the route declarations (server/route.ts,
 * server/routes/) that the Express app is mounted from: their zod request schemas, and the
 * response shapes registered in `responseSchemas` (server/schemas.ts) as `components.schemas`.
 */

type Json = Record<string, unknown>;

/** The generic sentence of each error status (a route may give its own in `responses`). */
const ERROR_TEXT: Record<number, string> = {
  400: 'invalid request (`validation_failed`, the message names the field; `unknown_job_type`)',
  401: 'missing, invalid, revoked or expired token (`unauthorized`)',
  403: 'the token lacks the permission (`forbidden`; the message names it)',
  404: 'not found (`not_found`; another user’s job or schedule answers 404 too)',
  408: 'the request body sent nothing for JOBS_BODY_IDLE_TIMEOUT_SECONDS (`request_timeout`): the connection is closed and nothing was kept',
  409: 'the job or upload is in the wrong state (`conflict`)',
  413: 'too large (`payload_too_large`)',
  415: 'unsupported content type or Content-Encoding (`unsupported_media_type`)',
  422: 'the Idempotency-Key was used for a different request (`idempotency_conflict`)',
  429: 'a limit was reached: the token’s request rate (`rate_limited`, JOBS_RATE_LIMIT_PER_MINUTE), its open event streams (`too_many_streams`) or its user’s open direct uploads (`too_many_requests`); retry after `Retry-After` seconds',
  500: 'an internal error (`internal`); the details are in the server’s log, under the X-Request-Id',
  503: 'the database is unavailable right now (`database_unavailable`); retry after `Retry-After` seconds',
  507: 'the server is out of storage space (`insufficient_storage`); nothing was kept',
};

/** Routes that create work also answer 429 when the caller's active-jobs cap is reached. */
export const QUOTA_429 =
  'too many requests: the token’s request rate limit (`rate_limited`, JOBS_RATE_LIMIT_PER_MINUTE) is used up for this minute, or the user already has JOBS_MAX_ACTIVE_JOBS_PER_USER jobs pending or running (`quota_exceeded`); retry after Retry-After seconds';

const RETRY_AFTER = {
  'Retry-After': {
    description: 'seconds to wait before trying again',
    schema: { type: 'integer', minimum: 1 },
  },
};

const ERROR_REF = { $ref: '#/components/schemas/Error' };

export interface OpenApiOptions {
  /** The API's base URL (`servers`): the public URL, else the address the request came to. */
  serverUrl: string;
}

/**
 * The document of `routes`. Everything but `servers` is the same for every request: build it once
 * with `openApiDocumentOf(routes)` and call the result per request.
 */
export function openApiDocumentOf(routes: readonly Route[]): (opts: OpenApiOptions) => Json {
  let doc: Json | undefined;
  return ({ serverUrl }) => {
    doc ??= build(routes);
    const { openapi, info, ...rest } = doc;
    return { openapi, info, servers: [{ url: serverUrl, description: 'this server' }], ...rest };
  };
}

function build(routes: readonly Route[]): Json {
  const { version } = JSON.parse(fs.readFileSync(path.join(packageRoot(), 'package.json'), 'utf8')) as {
    version: string;
  };
  const components = z.toJSONSchema(responseSchemas, {
    uri: (id) => `#/components/schemas/${id}`,
    target: 'draft-2020-12',
    io: 'output',
    unrepresentable: 'any',
  }).schemas as Record<string, Json>;
  for (const s of Object.values(components)) {
    delete s.$schema;
    delete s.$id;
  }
  const paths: Record<string, Record<string, Json>> = {};
  const ids = new Set<string>();
  for (const route of routes) {
    if (ids.has(route.operationId)) throw new Error(`two routes are ${route.operationId}`);
    ids.add(route.operationId);
    const p = route.path.replace(/:(\w+)/g, '{$1}');
    (paths[p] ??= {})[route.method] = operation(route);
  }
  return {
    openapi: '3.1.0',
    info: {
      title: 'jobs',
      version,
      summary: 'Async job platform: submit files, run handlers, follow progress and logs.',
      description:
        'Submit files, run handlers, follow progress and logs. Errors are `{"error":{"code","message","details"}}` (`code`: one of the `Error` schema’s); a user sees only their own jobs, an admin every job. Limits answer 429 with `Retry-After`: a request rate per token (`rate_limited`) and a cap on a user’s pending and running jobs (`quota_exceeded`). A rendered reference of this document is at `/docs`.',
      license: { name: 'MIT', identifier: 'MIT' },
    },
    tags: [
      { name: 'jobs', description: 'Jobs, their logs, outputs and live streams' },
      { name: 'uploads', description: 'Direct (presigned multipart) uploads of large inputs' },
      { name: 'schedules', description: 'Cron schedules that create jobs' },
      { name: 'webhooks', description: "Completion webhooks: a job's end POSTed, signed, to a URL" },
      { name: 'tokens', description: 'Identity and API tokens' },
      { name: 'dead letters', description: 'Jobs given up on, and sending them back (admins: dlq:Manage)' },
      {
        name: 'retention',
        description: 'Deleting finished jobs past their retention (admins: job:ManageAll)',
      },
      { name: 'operations', description: 'Health, readiness, metrics, this document and its rendering' },
    ],
    security: [{ bearer: [] }],
    paths,
    components: {
      securitySchemes: {
        bearer: { type: 'http', scheme: 'bearer', description: 'an API token (`jobs tokens create`)' },
      },
      schemas: components,
    },
  };
}

function operation(route: Route): Json {
  const params: Json[] = [];
  for (const name of route.path.match(/:(\w+)/g) ?? []) {
    const key = name.slice(1);
    const schema = route.params?.[key];
    if (!schema) throw new Error(`${route.operationId}: path parameter ${key} is not declared`);
    const { description, ...rest } = toSchema(schema, 'input') as Json & { description?: string };
    params.push({
      name: key,
      in: 'path',
      required: true,
      ...(description ? { description } : {}),
      schema: rest,
    });
  }
  if (route.query) {
    const schema = toSchema(route.query, 'input') as {
      properties?: Record<string, Json>;
      required?: string[];
    };
    for (const [name, prop] of Object.entries(schema.properties ?? {})) {
      const { description, ...rest } = prop as Json & { description?: string };
      params.push({
        name,
        in: 'query',
        required: schema.required?.includes(name) ?? false,
        ...(description ? { description } : {}),
        schema: rest,
      });
    }
  }
  for (const h of route.headers ?? []) {
    if (h.hidden) continue;
    params.push({
      name: h.name,
      in: 'header',
      required: false,
      description: h.description,
      schema: toSchema(h.schema, 'input'),
    });
  }

  const responses: Record<string, Json> = {};
  for (const [status, decl] of Object.entries(route.responses))
    responses[status] = response(Number(status), decl);
  for (const status of route.errors ?? []) {
    if (responses[status]) continue;
    const description = ERROR_TEXT[status];
    if (!description) throw new Error(`${route.operationId}: no generic text for error ${status}`);
    responses[status] = response(status, { description });
  }
  if (route.auth !== 'public' && route.auth !== 'signed' && !responses[401])
    responses[401] = response(401, { description: ERROR_TEXT[401] });
  // Every /api route is rate limited (server/rate-limit.ts): by token, or by IP address without one.
  if (route.path.startsWith('/api/') && !responses[429])
    responses[429] = response(429, { description: ERROR_TEXT[429] });
  // Any route can meet an internal error or a database that is away for a moment.
  if (!responses[500]) responses[500] = response(500, { description: ERROR_TEXT[500] });

  const requestContent: Record<string, Json> = {};
  if (route.json)
    requestContent['application/json'] = {
      schema: toSchema(route.json.documented ?? route.json.schema, 'input'),
    };
  for (const [type, raw] of Object.entries(route.raw ?? {}))
    requestContent[type] = {
      schema: raw.description ? { ...raw.schema, description: raw.description } : raw.schema,
    };
  const security =
    route.auth === 'public' || route.auth === 'signed'
      ? { security: [] }
      : route.auth === 'bearer-or-signed'
        ? { security: [{ bearer: [] }, {}] }
        : {};

  return {
    operationId: route.operationId,
    summary: route.summary,
    ...(route.description ? { description: route.description } : {}),
    tags: [route.tag],
    ...security,
    ...(params.length ? { parameters: params } : {}),
    ...(Object.keys(requestContent).length
      ? { requestBody: { required: route.json?.whenAbsent === undefined, content: requestContent } }
      : {}),
    responses,
  };
}

function response(status: number, decl: ResponseDecl): Json {
  const content: Record<string, Json> = {};
  if (decl.schema) content['application/json'] = { schema: schemaOf(decl.schema) };
  else if (status >= 400) content['application/json'] = { schema: ERROR_REF };
  Object.assign(content, decl.content);
  const headers = status === 429 ? { ...RETRY_AFTER, ...decl.headers } : decl.headers;
  return {
    description: decl.description,
    ...(headers ? { headers } : {}),
    ...(Object.keys(content).length ? { content } : {}),
  };
}

/** A response schema: a `$ref` to its component when it has one (or an array of one). */
function schemaOf(schema: z.ZodType): JsonSchema {
  const id = responseSchemas.get(schema)?.id;
  if (id) return { $ref: `#/components/schemas/${id}` };
  if (schema instanceof z.ZodArray) {
    const itemId = responseSchemas.get(schema.element as z.ZodType)?.id;
    if (itemId) return { type: 'array', items: { $ref: `#/components/schemas/${itemId}` } };
  }
  return toSchema(schema, 'output');
}

function toSchema(schema: z.ZodType, io: 'input' | 'output'): Json {
  const out = z.toJSONSchema(schema, { target: 'draft-2020-12', io, unrepresentable: 'any' }) as Json;
  delete out.$schema;
  return out;
}
