import { afterAll, beforeAll, expect, jest } from '@jest/globals';
import { it } from '@jest/globals';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { tempConfigHome } from '../cli/helpers/run-cli.js';
import { api, waitForJob } from '../helpers/api-server.js';
import { profileToken, type ServerProcess, startServerProcess } from '../helpers/server-process.js';
import { describeBrowser, haveChromium, launchChromium } from '../helpers/chromium.js';

/**
 * The job page's outputs in Chromium against a real `jobs server`: a csv-import with bad rows
 * lists rejected.csv, and its link downloads the file without the token ever being in a URL (the
 * page asks for a short-lived signed link and navigates to it).
 */
jest.setTimeout(180_000);

let server: ServerProcess | undefined;
let browser: Browser | undefined;
let dataDir = '';
let configHome = '';
let token = '';
const problems: string[] = [];

beforeAll(async () => {
  if (!haveChromium) return;
  dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'jobs-dash-out-'));
  configHome = tempConfigHome();
  server = await startServerProcess({ JOBS_DATA_DIR: dataDir, XDG_CONFIG_HOME: configHome });
  const admin = profileToken(configHome);
  const r = await api(server.url, admin, 'POST', '/api/tokens', { user: 'carol' });
  token = r.body.token;
  browser = await launchChromium();
}, 150_000);

afterAll(async () => {
  await browser?.close();
  if (server) expect(await server.stop('SIGTERM')).toBe(0);
  for (const d of [dataDir, configHome]) if (d) fs.rmSync(d, { recursive: true, force: true });
}, 60_000);

describeBrowser('the job page lists outputs with download links', () => {
  it('downloads rejected.csv of a csv-import through a signed link', async () => {
    const form = new FormData();
    form.set('type', 'csv-import');
    form.set('params', JSON.stringify({ types: { id: 'integer' }, maxErrors: 5 }));
    form.set('file', new Blob(['id,name\n1,a\nx,"b, c"\n']), 'people.csv');
    const created = await api(server!.url, token, 'POST', '/api/jobs', form);
    expect(created.status).toBe(201);
    const job = await waitForJob(server!.url, token, created.body.id);
    expect(job.outputs.map((o: { name: string }) => o.name)).toEqual(['rejected.csv']);

    const context = await browser!.newContext({ acceptDownloads: true });
    const page: Page = await context.newPage();
    page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
    page.on('request', (r) => {
      if (r.url().includes(token)) problems.push(`token in a URL: ${r.url()}`);
    });
    await page.goto(server!.url + '/');
    await page.locator('#token').fill(token);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.locator('#who-name', { hasText: 'carol' }).waitFor();
    await page.goto(`${server!.url}/#/jobs/${job.id}`);

    const item = page.locator('#outputs-list li[data-output="rejected.csv"]');
    await item.waitFor();
    expect(await item.textContent()).toMatch(/^rejected\.csv \d+ B · text\/csv; charset=utf-8$/);
    const [download] = await Promise.all([page.waitForEvent('download'), item.locator('a').click()]);
    expect(download.suggestedFilename()).toBe('rejected.csv');
    expect(download.url()).toMatch(
      /\/api\/jobs\/[0-9a-f-]+\/outputs\/rejected\.csv\?expires=\d+&signature=[0-9a-f]{64}$/,
    );
    const file = await download.path();
    expect(fs.readFileSync(file, 'utf8')).toBe(
      'line,reasons,id,name\r\n3,"id: ""x"" is not an integer",x,"b, c"\r\n',
    );
    expect(problems).toEqual([]);
    await context.close();
  });
});
