import path from 'node:path';
import express, { Router, type Response } from 'express';
import { packageRoot } from '../core/package-root.js';

/**
 * The dashboard's Content-Security-Policy. Everything comes from this origin; no inline script or
 * style (the pages set neither), no plugins, no framing, no `<base>` tricks, forms post only here.
 * Trusted Types with no policy at all makes the browser itself refuse `innerHTML = string` and its
 * kin, so an injection sink that slipped into the code would throw instead of rendering user data
 * as HTML.
 */
export const DASHBOARD_CSP = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self'",
  "connect-src 'self'",
  "font-src 'self'",
  "object-src 'none'",
  "base-uri 'none'",
  "frame-ancestors 'none'",
  "form-action 'self'",
  "require-trusted-types-for 'script'",
  "trusted-types 'none'",
].join('; ');

/** Headers on every dashboard response (the page and its assets). */
export const DASHBOARD_HEADERS: Readonly<Record<string, string>> = {
  'Content-Security-Policy': DASHBOARD_CSP,
  'X-Content-Type-Options': 'nosniff',
  // API tokens never travel in URLs, but job ids do: keep them out of other sites' logs.
  'Referrer-Policy': 'no-referrer',
  // For browsers that predate frame-ancestors.
  'X-Frame-Options': 'DENY',
  'Cross-Origin-Opener-Policy': 'same-origin',
  'Cross-Origin-Resource-Policy': 'same-origin',
  'Permissions-Policy': 'camera=(), microphone=(), geolocation=(), payment=(), usb=()',
};

/** Where the dashboard's files live: `web/` at the package root (a clone or an installed package). */
export function webDir(): string {
  return path.join(packageRoot(), 'web');
}

function setHeaders(res: Response): void {
  for (const [k, v] of Object.entries(DASHBOARD_HEADERS)) res.setHeader(k, v);
  // No build step means no content hashes in file names: revalidate (ETag) on every load, so a
  // new release is never half old, half new in someone's browser.
  res.setHeader('Cache-Control', 'no-cache');
}

/**
 * The browser dashboard: static files from `web/` (plain ES modules, no build step), served at `/`
 * without authentication (they hold no data; the page asks for a token and calls the API with it).
 * Requests under /api never look at the file system.
 */
export function dashboardRouter(dir = webDir()): Router {
  const r = Router();
  const files = express.static(dir, {
    index: 'index.html',
    dotfiles: 'ignore',
    redirect: false,
    fallthrough: true,
    setHeaders,
  });
  r.use((req, res, next) => {
    if (req.path === '/api' || req.path.startsWith('/api/')) return next();
    files(req, res, next);
  });
  return r;
}
