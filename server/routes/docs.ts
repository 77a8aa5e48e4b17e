import fs from 'node:fs';
import path from 'node:path';
import express, { type RequestHandler } from 'express';
import { packageRoot } from '../../core/package-root.js';
import type { OpenApiOptions } from '../openapi.js';
import { publicBaseUrl } from '../public-url.js';
import { defineRoute, type Route } from '../route.js';
import { DASHBOARD_HEADERS } from '../dashboard.js';

/**
 * The policy of the rendered reference: the dashboard's, loosened only where Redoc needs it.
 * Its components style themselves with <style> elements (styled-components), its markdown is set
 * as HTML (sanitized by DOMPurify, but not through Trusted Types), and its search index runs in a
 * worker made from a blob: URL. Scripts still come only from this origin, never inline; and
 * images too, which blocks the one thing Redoc would fetch elsewhere (its attribution's logo).
 */
export const DOCS_CSP = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self' 'unsafe-inline'",
  "img-src 'self' data:",
  "font-src 'self' data:",
  "connect-src 'self'",
  "worker-src 'self' blob:",
  "object-src 'none'",
  "base-uri 'none'",
  "frame-ancestors 'none'",
  "form-action 'none'",
].join('; ');

/** Where `npm run build` puts Redoc's standalone bundle (scripts/docs-assets.mjs). */
export function docsAssetsDir(): string {
  return path.join(packageRoot(), 'dist', 'docs');
}

const PAGE = `<!doctype html>
<html lang="en">
  <head>
    <meta charset="utf-8" />
    <meta name="viewport" content="width=device-width, initial-scale=1" />
    <title>jobs API reference</title>
    <link rel="icon" href="/favicon.svg" type="image/svg+xml" />
  </head>
  <body>
    <redoc spec-url="/openapi.json" hide-download-button="false"></redoc>
    <script src="/docs/assets/redoc.standalone.js"></script>
  </body>
</html>
`;

function setDocsHeaders(res: express.Response): void {
  for (const [k, v] of Object.entries(DASHBOARD_HEADERS)) res.setHeader(k, v);
  res.setHeader('Content-Security-Policy', DOCS_CSP);
  res.setHeader('Cache-Control', 'no-cache');
}

/**
 * `/openapi.json` and `/docs` (public). `document` is the generated document (server/openapi.ts)
 * of every route; `servers` names the public URL (JOBS_PUBLIC_URL) or the address asked.
 */
export function docsRoutes(deps: {
  document: (opts: OpenApiOptions) => Record<string, unknown>;
  publicUrl?: string;
}): Route[] {
  const getOpenApi = defineRoute({
    method: 'get',
    path: '/openapi.json',
    operationId: 'getOpenApi',
    tag: 'operations',
    auth: 'public',
    summary: 'This document',
    responses: {
      200: {
        description: 'the OpenAPI 3.1 document',
        content: { 'application/json': { schema: { type: 'object' } } },
      },
    },
    handler: ({ req }) => deps.document({ serverUrl: publicBaseUrl(deps.publicUrl, req) }),
  });

  const getDocs = defineRoute({
    method: 'get',
    path: '/docs',
    operationId: 'getDocs',
    tag: 'operations',
    auth: 'public',
    summary: 'This document, rendered (Redoc, served from this server: no CDN)',
    responses: {
      200: { description: 'the reference page', content: { 'text/html': { schema: { type: 'string' } } } },
    },
    handler({ res }) {
      setDocsHeaders(res);
      res.type('html').send(PAGE);
    },
  });
  return [getOpenApi, getDocs];
}

/** The page's script, Redoc's standalone bundle, at /docs/assets/ (static, public). */
export function docsAssets(dir = docsAssetsDir()): RequestHandler {
  if (!fs.existsSync(dir)) {
    // A checkout that was not built: the page says so instead of rendering nothing.
    return (_req, res) => {
      res.status(404).type('text').send('the API reference assets are missing: run npm run build');
    };
  }
  return express.static(dir, {
    index: false,
    dotfiles: 'ignore',
    redirect: false,
    fallthrough: true,
    setHeaders: setDocsHeaders,
  });
}
