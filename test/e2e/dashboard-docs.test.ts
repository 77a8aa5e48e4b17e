import { afterAll, beforeAll, expect, it, jest } from '@jest/globals';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Browser } from 'playwright-core';
import { tempConfigHome } from '../cli/helpers/run-cli.js';
import { type ServerProcess, startServerProcess } from '../helpers/server-process.js';
import { describeBrowser, haveChromium, launchChromium } from '../helpers/chromium.js';

/**
 * The rendered API reference at /docs in Chromium against a real `jobs server`: Redoc, served by
 * the server itself (no CDN), renders the generated /openapi.json under the page's
 * Content-Security-Policy, with no request leaving the server's origin.
 */
const REDOC_LOGO = 'https://cdn.redoc.ly/redoc/logo-mini.svg';
jest.setTimeout(180_000);

let server: ServerProcess | undefined;
let browser: Browser | undefined;
let dataDir = '';
let configHome = '';

beforeAll(async () => {
  if (!haveChromium) return;
  dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'jobs-docs-'));
  configHome = tempConfigHome();
  server = await startServerProcess({ JOBS_DATA_DIR: dataDir, XDG_CONFIG_HOME: configHome });
  browser = await launchChromium();
}, 150_000);

afterAll(async () => {
  await browser?.close();
  if (server) expect(await server.stop('SIGTERM')).toBe(0);
  for (const d of [dataDir, configHome]) if (d) fs.rmSync(d, { recursive: true, force: true });
}, 60_000);

describeBrowser('/docs', () => {
  it('renders every operation of the document, from this origin only, under its CSP', async () => {
    const problems: string[] = [];
    const page = await browser!.newPage();
    page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
    page.on('console', (m) => {
      if (m.type() !== 'error') return;
      // Redoc's attribution shows its logo from its CDN: the policy's img-src blocks it (the
      // request below never leaves the browser), and Redoc then hides the image.
      if (m.text().includes(`'${REDOC_LOGO}' violates the following Content Security Policy`)) return;
      problems.push(`console error: ${m.text()}`);
    });
    page.on('response', (r) => {
      if (r.status() >= 400) problems.push(`${r.status()} ${r.url()}`);
    });
    page.on('request', (r) => {
      const url = r.url();
      if (url === REDOC_LOGO) return;
      if (!url.startsWith(server!.url) && !url.startsWith('blob:') && !url.startsWith('data:'))
        problems.push(`request off the server: ${url}`);
    });
    const res = await page.goto(`${server!.url}/docs`);
    expect(res!.status()).toBe(200);
    expect(res!.headers()['content-security-policy']).toMatch(/script-src 'self'(;|$)/);

    // Redoc gives each operation an anchor named after its operationId.
    await page.locator('[id="operation/submitJob"]').waitFor({ timeout: 60_000 });
    const doc = (await (await fetch(`${server!.url}/openapi.json`)).json()) as {
      paths: Record<string, Record<string, { operationId: string; summary: string }>>;
    };
    const ops = Object.values(doc.paths).flatMap((p) => Object.values(p));
    expect(ops.length).toBeGreaterThan(30);
    for (const op of ops) expect(await page.locator(`[id="operation/${op.operationId}"]`).count()).toBe(1);
    expect(problems).toEqual([]);
    // The summary as the operation's heading.
    await page.locator('[id="operation/submitJob"] h2', { hasText: 'Create a job' }).waitFor();
    await page.close();
  });

  it('serves its script from the server, and nothing else under /docs/assets', async () => {
    const js = await fetch(`${server!.url}/docs/assets/redoc.standalone.js`);
    expect(js.status).toBe(200);
    expect(js.headers.get('content-type')).toMatch(/javascript/);
    expect((await js.arrayBuffer()).byteLength).toBeGreaterThan(100_000);
    const missing = await fetch(`${server!.url}/docs/assets/nope.js`);
    expect(missing.status).toBe(404);
    expect(await missing.json()).toMatchObject({ error: { code: 'not_found' } });
  });
});
