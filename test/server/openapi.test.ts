import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { Validator } from '@seriousme/openapi-schema-validator';
import type { Express } from 'express';
import { createConfig, lintFromString } from '@redocly/openapi-core';
import fs from 'node:fs';
import path from 'node:path';
import type { z } from 'zod';
import * as coreErrors from '../../core/errors.js';
import { packageRoot } from '../../core/package-root.js';
import { ERROR_CODES } from '../../server/error-codes.js';
import * as schemas from '../../server/schemas.js';
import { api, startTestServer, waitForJob, type TestServer } from '../helpers/api-server.js';

interface Layer {
  rawPath?: string | string[];
  route?: { path: string | string[]; methods: Record<string, boolean> };
  handle: { stack?: Layer[] };
}

/** Every `METHOD /path` the Express app routes, walking mounted routers (Express 5 / router 2). */
function expressRoutes(app: Express): string[] {
  const out: string[] = [];
  const walk = (stack: Layer[], prefix: string) => {
    for (const layer of stack) {
      if (layer.route) {
        for (const p of [layer.route.path].flat()) {
          for (const [m, on] of Object.entries(layer.route.methods)) {
            if (on && m !== '_all') out.push(`${m.toUpperCase()} ${join(prefix, p)}`);
          }
        }
      } else if (layer.handle.stack) {
        const mount = [layer.rawPath ?? '/'].flat()[0];
        walk(layer.handle.stack, join(prefix, typeof mount === 'string' ? mount : '/'));
      }
    }
  };
  walk((app as unknown as { router: { stack: Layer[] } }).router.stack, '');
  return [...new Set(out)].sort();
}

function join(prefix: string, p: string): string {
  const joined = `${prefix.replace(/\/$/, '')}/${p.replace(/^\//, '')}`;
  return joined.length > 1 ? joined.replace(/\/$/, '') : joined;
}

describe('the OpenAPI document', () => {
  let s: TestServer;
  let doc: any;

  beforeAll(async () => {
    s = await startTestServer('pglite');
    const res = await api(s.url, undefined, 'GET', '/openapi.json'); // public
    expect(res.status).toBe(200);
    doc = res.body;
  });
  afterAll(async () => {
    await s.close();
  });

  it('is a valid OpenAPI 3.1 document', async () => {
    const validator = new Validator();
    const result = await validator.validate(doc);
    expect(result.errors ?? []).toEqual([]);
    expect(result.valid).toBe(true);
    expect(validator.version).toBe('3.1');
  });

  it('lists exactly the routes the app serves', () => {
    const routes = expressRoutes(s.app);
    expect(routes.length).toBeGreaterThan(15);
    const documented: string[] = [];
    for (const [p, ops] of Object.entries(doc.paths as Record<string, Record<string, unknown>>)) {
      for (const m of Object.keys(ops))
        documented.push(`${m.toUpperCase()} ${p.replace(/\{(\w+)\}/g, ':$1')}`);
    }
    // A new route without documentation (or a documented route that is gone) fails here.
    expect(documented.sort()).toEqual(routes);
  });

  it('documents the event streams, request schemas from the zod validators, and auth', () => {
    const logs = doc.paths['/api/jobs/{id}/logs'].get;
    expect(Object.keys(logs.responses['200'].content).sort()).toEqual([
      'application/json',
      'text/event-stream',
    ]);
    expect(logs.parameters.map((p: any) => `${p.in}:${p.name}`)).toEqual([
      'path:id',
      'query:after',
      'query:limit',
      'header:Last-Event-ID',
    ]);
    expect(logs.responses['200'].content['text/event-stream'].schema.description).toMatch(/event: end/);
    const list = doc.paths['/api/jobs'].get;
    expect(list.responses['200'].content['text/event-stream']).toBeDefined();
    expect(list.parameters.find((p: any) => p.name === 'status').schema.enum).toEqual([
      'PENDING',
      'RUNNING',
      'COMPLETED',
      'FAILED',
      'CANCELLED',
    ]);
    expect(list.responses['429'].headers['Retry-After']).toBeDefined();
    expect(logs.responses['429']).toBeDefined();
    expect(list.responses['200'].content['text/event-stream'].schema.description).toMatch(/token revoked/);
    const create = doc.paths['/api/jobs'].post;
    expect(Object.keys(create.responses)).toEqual(expect.arrayContaining(['408', '507']));
    expect(doc.paths['/api/uploads/{id}/parts/{n}'].put.responses['507']).toBeDefined();
    expect(create.requestBody.content['application/json'].schema.required).toEqual(['type']);
    expect(create.requestBody.content['multipart/form-data']).toBeDefined();
    expect(create.responses['422'].content['application/json'].schema).toEqual({
      $ref: '#/components/schemas/Error',
    });
    const tokenBody = doc.paths['/api/tokens'].post.requestBody.content['application/json'].schema;
    expect(Object.keys(tokenBody.properties)).toEqual(expect.arrayContaining(['expiresIn', 'expiresAt']));
    expect(doc.components.schemas.Token.required).toContain('expiresAt');
    expect(doc.paths['/healthz'].get.security).toEqual([]);
    expect(doc.security).toEqual([{ bearer: [] }]);
    expect(doc.paths['/api/jobs/{id}'].get.responses['404'].content['application/json'].schema).toEqual({
      $ref: '#/components/schemas/Error',
    });
  });

  it('documents the 429 of every /api route (rate limit; quota where work is created), with Retry-After', () => {
    for (const [p, ops] of Object.entries(doc.paths as Record<string, Record<string, any>>)) {
      for (const op of Object.values(ops)) {
        if (!p.startsWith('/api/')) expect(op.responses['429']).toBeUndefined();
        else
          expect(op.responses['429'].headers['Retry-After'].schema).toEqual({ type: 'integer', minimum: 1 });
      }
    }
    expect(doc.paths['/api/jobs'].post.responses['429'].description).toMatch(/quota_exceeded/);
    expect(doc.paths['/api/jobs/{id}/retry'].post.responses['429'].description).toMatch(/quota_exceeded/);
    expect(doc.paths['/api/jobs'].get.responses['429'].description).toMatch(/rate_limited/);
  });

  it('has readable operationIds, the server it came from, and a license', () => {
    const ids = Object.values(doc.paths as Record<string, Record<string, any>>).flatMap((ops) =>
      Object.values(ops).map((op) => op.operationId as string),
    );
    expect(new Set(ids).size).toBe(ids.length);
    for (const id of ids) expect(id).toMatch(/^[a-z]+(?:[A-Z][a-z]+)*$/);
    expect(doc.paths['/api/jobs'].get.operationId).toBe('listJobs');
    expect(doc.paths['/api/jobs'].post.operationId).toBe('submitJob');
    expect(doc.paths['/api/jobs/{id}'].get.operationId).toBe('getJob');
    expect(doc.paths['/api/jobs/{id}/cancel'].post.operationId).toBe('cancelJob');
    expect(doc.paths['/api/jobs/{id}/retry'].post.operationId).toBe('retryJob');
    expect(doc.paths['/api/jobs/{id}/logs'].get.operationId).toBe('getJobLogs');
    // No JOBS_PUBLIC_URL here: the address the request came to.
    expect(doc.servers).toEqual([{ url: s.url, description: 'this server' }]);
    expect(doc.info.license).toEqual({ name: 'MIT', identifier: 'MIT' });
    expect(doc.paths['/docs'].get.security).toEqual([]);
  });

  it('passes redocly lint (recommended rules) with no error', async () => {
    const config = await createConfig({ extends: ['recommended'] });
    const problems = await lintFromString({
      source: JSON.stringify(doc),
      absoluteRef: '/openapi.json',
      config,
    });
    const show = (p: (typeof problems)[number]) => `${p.ruleId} ${p.location[0]?.pointer}: ${p.message}`;
    expect(problems.filter((p) => p.severity === 'error').map(show)).toEqual([]);
    // The one warning left: the public operations answer no 4xx (there is none to document).
    const warnings = problems.filter((p) => p.severity === 'warn');
    expect(warnings.map((p) => p.ruleId)).toEqual(warnings.map(() => 'operation-4xx-response'));
    expect(warnings.map((p) => p.location[0]?.pointer).sort()).toEqual(
      ['/docs', '/healthz', '/metrics', '/openapi.json', '/readyz']
        .map((p) => `#/paths/${p.replace(/\//g, '~1')}/get/responses`)
        .sort(),
    );
  });

  it('documents exactly the error codes the server can emit', () => {
    // The typed errors (core/errors.ts) and the answers written outside the error handler.
    const emitted = new Set<string>();
    for (const value of Object.values(coreErrors)) {
      if (typeof value !== 'function' || !(value.prototype instanceof Error)) continue;
      const err = new (value as new (m: string, n: number) => unknown)('x', 1);
      if (err instanceof coreErrors.AppError) emitted.add(err.code);
    }
    const serverDir = path.join(packageRoot(), 'server');
    const sources = fs
      .readdirSync(serverDir, { recursive: true, encoding: 'utf8' })
      .filter((f) => f.endsWith('.ts'))
      .map((f) => fs.readFileSync(path.join(serverDir, f), 'utf8'));
    for (const src of sources) for (const m of src.matchAll(/\bcode: '([a-z_]+)'/g)) emitted.add(m[1]);
    expect([...ERROR_CODES].sort()).toEqual([...emitted].sort());

    const documented = doc.components.schemas.Error.properties.error.properties.code.enum as string[];
    expect([...documented].sort()).toEqual([...ERROR_CODES].sort());
    // Every code an error answer's description names is one of them.
    for (const ops of Object.values(doc.paths as Record<string, Record<string, any>>))
      for (const op of Object.values(ops))
        for (const [status, r] of Object.entries(op.responses as Record<string, any>)) {
          if (Number(status) < 400) continue;
          for (const m of String(r.description).matchAll(/`([a-z]+(?:_[a-z]+)+)`/g))
            expect(documented).toContain(m[1]);
        }
  });

  it('documents the multipart form with every field of the JSON submission (but uploadId)', () => {
    const create = doc.paths['/api/jobs'].post.requestBody.content;
    const form = Object.keys(create['multipart/form-data'].schema.properties).sort();
    const json = Object.keys(create['application/json'].schema.properties).filter((k) => k !== 'uploadId');
    expect(form).toEqual([...json, 'file'].sort());
    expect(create['multipart/form-data'].schema.properties.maxAttempts).toBeDefined();
  });

  it('describes what the API really answers (response schemas parse real answers)', async () => {
    const admin = await s.token('root', { admin: true });
    const alice = await s.token('alice');
    s.startWorker();
    const check = (schema: z.ZodType, body: unknown) => {
      const r = schema.safeParse(body);
      if (!r.success) throw new Error(`${JSON.stringify(r.error.issues)}\n${JSON.stringify(body)}`);
    };
    const created = await api(s.url, alice, 'POST', '/api/jobs', { type: 'noop', params: { logLines: 3 } });
    check(schemas.jobResponse, created.body);
    const done = await waitForJob(s.url, alice, created.body.id);
    check(schemas.jobResponse, done);
    check(schemas.jobPageResponse, (await api(s.url, alice, 'GET', '/api/jobs')).body);
    const logs = await api(s.url, alice, 'GET', `/api/jobs/${created.body.id}/logs`);
    expect(logs.body.items.length).toBeGreaterThan(3);
    check(schemas.logPageResponse, logs.body);
    for (const t of (await api(s.url, alice, 'GET', '/api/job-types')).body)
      check(schemas.jobTypeResponse, t);
    check(schemas.meResponse, (await api(s.url, alice, 'GET', '/api/me')).body);
    check(
      schemas.createdTokenResponse,
      (await api(s.url, admin, 'POST', '/api/tokens', { user: 'carol' })).body,
    );
    check(
      schemas.createdTokenResponse,
      (await api(s.url, admin, 'POST', '/api/tokens', { user: 'dave', expiresIn: '30d' })).body,
    );
    const reused = { 'idempotency-key': 'k' };
    await api(s.url, alice, 'POST', '/api/jobs', { type: 'noop' }, reused);
    const conflict = await api(
      s.url,
      alice,
      'POST',
      '/api/jobs',
      { type: 'noop', params: { fail: true } },
      reused,
    );
    expect(conflict.status).toBe(422);
    check(schemas.errorResponse, conflict.body);
    for (const t of (await api(s.url, admin, 'GET', '/api/tokens')).body.items)
      check(schemas.tokenResponse, t);
    check(schemas.errorResponse, (await api(s.url, alice, 'GET', '/api/jobs/nope')).body);
    const upload = await api(s.url, alice, 'POST', '/api/uploads', {
      fileName: 'a.csv',
      size: 3,
      sha256: 'a'.repeat(64),
    });
    check(schemas.begunUploadResponse, upload.body);
    check(schemas.healthResponse, (await api(s.url, undefined, 'GET', '/healthz')).body);
    check(schemas.readyResponse, (await api(s.url, undefined, 'GET', '/readyz')).body);
  });
});
