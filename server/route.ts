import express, { Router, type Request, type RequestHandler, type Response } from 'express';
import type { z } from 'zod';
import { requirePermission } from '../core/auth/can.js';
import type { Permission, Principal } from '../core/auth/principal.js';
import { UnsupportedMediaTypeError } from '../core/errors.js';
import { principalOf } from './auth.js';
import { parseOr400 } from './validate.js';

/**
 * One declaration per route: method, path, schemas, documentation and handler. `mountRoutes`
 * makes the Express routes from the declarations and server/openapi.ts the OpenAPI document, so
 * adding a route is one `defineRoute` in server/routes/ (listed in server/routes/index.ts).
 */

/** A JSON Schema (OpenAPI 3.1 dialect), for what zod does not describe (multipart, raw bytes). */
export type JsonSchema = Record<string, unknown>;

/**
 * Who may call the route. `bearer`: an API token (mounted behind `authenticate`). `public`: anyone
 * (health, metrics, this document). `signed`: a URL the server signed (the signature in the query
 * is the credential; mounted before `authenticate`). `bearer-or-signed`: either; a request with a
 * `signature` query parameter takes the signed way.
 */
export type RouteAuth = 'bearer' | 'public' | 'signed' | 'bearer-or-signed';

export type HttpMethod = 'get' | 'post' | 'put' | 'patch' | 'delete';

export type Tag =
  'jobs' | 'uploads' | 'schedules' | 'webhooks' | 'tokens' | 'dead letters' | 'retention' | 'operations';

/** A request header the route reads. Validated when present; `hidden`: refused, so not documented. */
export interface HeaderDecl {
  name: string;
  schema: z.ZodType;
  description: string;
  hidden?: boolean;
}

/** A JSON request body, read with express.json and validated with `schema` (400 naming the field). */
export interface JsonBodyDecl<B extends z.ZodType> {
  schema: B;
  /** body-parser's limit ('64kb'). */
  limit: string;
  /** Only an object or array (body-parser's `strict`; default true). */
  strict?: boolean;
  /** What a request without a JSON body is validated as (default: undefined, usually a 400). */
  whenAbsent?: unknown;
  /** Answer 415 with this sentence unless the request is `application/json`. */
  requireJson?: string;
  /** The documented schema when it differs from the validated one (a batch checked job by job). */
  documented?: z.ZodType;
}

/** A documented body the handler reads itself (a stream): multipart, octet-stream. */
export interface RawBodyDecl {
  schema: JsonSchema;
  description?: string;
}

/** One documented answer. `schema`: its JSON body; `content`: other media types (streams, bytes). */
export interface ResponseDecl {
  description: string;
  schema?: z.ZodType;
  content?: Record<string, { schema: JsonSchema; example?: string }>;
  headers?: Record<string, { description: string; schema: JsonSchema }>;
}

/** What a handler gets: the validated inputs, and the caller. */
export interface RouteContext<Q, B> {
  /** The request; its path parameters are strings (the declared `params`). */
  req: Request<Record<string, string>>;
  res: Response;
  query: Q;
  body: B;
  /** The caller (bearer routes); throws on a signed or public request, which has none. */
  readonly principal: Principal;
  /** Whether the request came by a signed URL (`bearer-or-signed` routes). */
  signed: boolean;
}

export interface RouteDecl<Q extends z.ZodType = z.ZodType, B extends z.ZodType = z.ZodType> {
  method: HttpMethod;
  /** The full path in Express syntax (`/api/jobs/:id`); `{id}` in the document. */
  path: string;
  /** Readable and unique: `listJobs`, `getJob`, `submitJob`. */
  operationId: string;
  summary: string;
  description?: string;
  tag: Tag;
  auth: RouteAuth;
  /** Answers 403 naming the permission unless the token holds it, before anything is read. */
  permission?: { name: Permission; doing?: string };
  /** Path parameters, each with its schema (documentation; ids are not checked here: a bad one is a 404). */
  params?: Record<string, z.ZodType>;
  query?: Q;
  headers?: HeaderDecl[];
  json?: JsonBodyDecl<B>;
  /** Other request media types (multipart, bytes), read by the handler from the stream. */
  raw?: Record<string, RawBodyDecl>;
  /** The answers (2xx, 3xx; error statuses with their own description). */
  responses: Record<number, ResponseDecl>;
  /** Error statuses with the generic description (401 and 429 are added where they apply). */
  errors?: number[];
  /**
   * Answers the request. A value returned is sent as JSON with the lowest 2xx of `responses`;
   * a handler that streams or picks its status answers with `ctx.res` and returns nothing.
   */
  handler: (ctx: RouteContext<z.output<Q>, z.output<B>>) => unknown;
}

/** A declared route, its schemas' types erased (what mounting and the document need). */
export type Route = RouteDecl<z.ZodType, z.ZodType>;

/** Declares a route; the identity function, there for the types (handler inputs from the schemas). */
export function defineRoute<Q extends z.ZodType = z.ZodType, B extends z.ZodType = z.ZodType>(
  decl: RouteDecl<Q, B>,
): Route {
  return decl as unknown as Route;
}

/** Which routes a router of `mountRoutes` serves: each stage sits at its place in the app. */
export type MountStage = 'public' | 'signed' | 'bearer';

/**
 * The Express router of the routes of one stage, each as: permission (403), headers, query, body
 * (415, 413, 400 via server/errors.ts), then the handler. Routes keep their declared order.
 */
export function mountRoutes(routes: readonly Route[], stage: MountStage): Router {
  const r = Router();
  for (const route of routes) {
    if (!servesStage(route.auth, stage)) continue;
    const chain: RequestHandler[] = [];
    if (route.auth === 'bearer-or-signed' && stage === 'signed') {
      // Only requests by a signed link here; the others go on to `authenticate` and the bearer route.
      chain.push((req, _res, next) => (req.query.signature === undefined ? next('route') : next()));
    }
    if (route.permission) {
      const { name, doing } = route.permission;
      chain.push((_req, res, next) => {
        requirePermission(principalOf(res), name, doing);
        next();
      });
    }
    const parser = route.json
      ? express.json({ limit: route.json.limit, strict: route.json.strict ?? true })
      : undefined;
    chain.push(async (req, res) => {
      for (const h of route.headers ?? []) {
        const value = req.header(h.name);
        if (value !== undefined) parseOr400(h.schema, value, h.name);
      }
      const query = route.query ? parseOr400(route.query, req.query, 'query') : undefined;
      let body: unknown;
      const raw = route.raw && Object.keys(route.raw).some((type) => req.is(type));
      if (route.json && !raw) {
        if (route.json.requireJson && !req.is('application/json'))
          throw new UnsupportedMediaTypeError(route.json.requireJson);
        await runMiddleware(parser!, req, res);
        body = parseOr400(route.json.schema, req.body ?? route.json.whenAbsent, 'body');
      }
      const ctx: RouteContext<unknown, unknown> = {
        req: req as Request<Record<string, string>>,
        res,
        query,
        body,
        signed: stage === 'signed',
        get principal() {
          const p = res.locals.principal as Principal | undefined;
          if (!p) throw new Error(`${route.operationId}: no principal on a ${stage} request`);
          return p;
        },
      };
      const out = await route.handler(ctx);
      if (out !== undefined) res.status(successStatus(route)).json(out);
    });
    r[route.method](route.path, ...chain);
  }
  return r;
}

function servesStage(auth: RouteAuth, stage: MountStage): boolean {
  if (auth === 'bearer-or-signed') return stage === 'signed' || stage === 'bearer';
  return auth === (stage === 'signed' ? 'signed' : stage);
}

/**
 * The status a returned value is sent with: the route's lowest declared 2xx (a route that answers
 * 200 or 201 by case sends its answer itself).
 */
export function successStatus(route: Route): number {
  return Number(Object.keys(route.responses).find((s) => Number(s) < 300) ?? 200);
}

function runMiddleware(mw: RequestHandler, req: Request, res: Response): Promise<void> {
  return new Promise<void>((resolve, reject) =>
    mw(req, res, (err?: unknown) => (err ? reject(err) : resolve())),
  );
}
