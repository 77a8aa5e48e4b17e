import { afterAll, beforeAll, expect, it, jest } from '@jest/globals';
import fs from 'node:fs';
import net, { type AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { tempConfigHome } from '../cli/helpers/run-cli.js';
import { until } from '../helpers/counting.js';
import { api } from '../helpers/api-server.js';
import { createScratchDatabase } from '../helpers/db.js';
import { profileToken, type ServerProcess, startServerProcess } from '../helpers/server-process.js';
import { describeBrowser, haveChromium, launchChromium } from '../helpers/chromium.js';

/**
 * The dashboard as people run a queue with it (issue 17, items 7 and 8), in Chromium against a
 * real `jobs server`: the last hour and the counts per status, duration and error columns, search
 * by id, retry and cancel per row and in bulk (cancel asks first), validation errors at their
 * field, cards on a phone-sized screen, a failed job's result, owners by name, the log's level
 * filter and download, a job page that outlasts an API outage, and the admins' dead letters and
 * tokens. On PostgreSQL (TEST_DATABASE_URL) when set, so a test can mark a job dead-lettered.
 */
const onPostgres = Boolean(process.env.TEST_DATABASE_URL);

jest.setTimeout(180_000);

const UUID = '[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}';
const TERMINAL = ['COMPLETED', 'FAILED', 'CANCELLED'];

let server: ServerProcess | undefined;
let browser: Browser | undefined;
let url = '';
let dataDir = '';
let configHome = '';
let adminToken = '';
let database: { url: string; drop: () => Promise<void> } | undefined;
const tokens: Record<string, string> = {};
const problems: string[] = [];
const contexts: BrowserContext[] = [];

async function newPage(viewport = { width: 1200, height: 900 }): Promise<Page> {
  const context = await browser!.newContext({ viewport });
  contexts.push(context);
  const page = await context.newPage();
  page.setDefaultTimeout(30_000);
  page.on('console', (m) => {
    if (m.type() === 'error' && /Content Security Policy|Trusted Type/i.test(m.text()))
      problems.push(m.text());
  });
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  return page;
}

async function signIn(page: Page, token: string, name: string, base = url): Promise<void> {
  await page.goto(base + '/');
  await page.locator('#token').fill(token);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.locator('#who-name', { hasText: name }).waitFor();
}

async function createUser(name: string): Promise<string> {
  const r = await api(url, adminToken, 'POST', '/api/tokens', { user: name });
  expect(r.status).toBe(201);
  tokens[name] = r.body.token;
  return r.body.token;
}

async function submit(token: string, body: unknown): Promise<string> {
  const r = await api(url, token, 'POST', '/api/jobs', body);
  expect(r.status).toBe(201);
  return r.body.id;
}

async function csvJob(token: string, name: string, csv: string, params: unknown): Promise<string> {
  const form = new FormData();
  form.append('type', 'csv-import');
  form.append('params', JSON.stringify(params));
  form.append('file', new Blob([csv], { type: 'text/csv' }), name);
  const r = await api(url, token, 'POST', '/api/jobs', form);
  expect(r.status).toBe(201);
  return r.body.id;
}

async function terminal(token: string, id: string): Promise<{ status: string; [k: string]: unknown }> {
  return until(
    `job ${id} to end`,
    async () => (await api(url, token, 'GET', `/api/jobs/${id}`)).body,
    (j) => TERMINAL.includes(j.status),
    60_000,
  );
}

const rows = (page: Page) => page.locator('#jobs-body tr');

beforeAll(async () => {
  if (!haveChromium) return;
  dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'jobs-dash-ops-'));
  configHome = tempConfigHome();
  if (onPostgres) database = await createScratchDatabase();
  server = await startServerProcess({
    JOBS_DATA_DIR: dataDir,
    XDG_CONFIG_HOME: configHome,
    ...(database ? { DATABASE_URL: database.url } : {}),
  });
  url = server.url;
  adminToken = profileToken(configHome);
  browser = await launchChromium();
}, 150_000);

afterAll(async () => {
  for (const c of contexts) await c.close().catch(() => {});
  await browser?.close();
  if (server) expect(await server.stop('SIGTERM')).toBe(0);
  await database?.drop();
  for (const d of [dataDir, configHome]) if (d) fs.rmSync(d, { recursive: true, force: true });
}, 60_000);

describeBrowser('the dashboard for running a queue', () => {
  let alice: Page;
  let aliceFailed = '';
  let aliceCsv = '';

  it('sums up the last hour and the jobs per status, and keeps them current', async () => {
    await createUser('alice');
    const ok = [await submit(tokens.alice, { type: 'noop' }), await submit(tokens.alice, { type: 'noop' })];
    aliceFailed = await submit(tokens.alice, { type: 'noop', params: { fail: true }, maxAttempts: 1 });
    for (const id of [...ok, aliceFailed]) await terminal(tokens.alice, id);

    alice = await newPage();
    await signIn(alice, tokens.alice, 'alice');
    await alice.locator('#stats[data-loaded="true"]').waitFor();
    expect(await alice.locator('[data-count="COMPLETED"]').textContent()).toBe('2');
    expect(await alice.locator('[data-count="FAILED"]').textContent()).toBe('1');
    expect(await alice.locator('[data-count="ALL"]').textContent()).toBe('3');
    expect(await alice.locator('#stats-completed').textContent()).toBe('2');
    expect(await alice.locator('#stats-failed').textContent()).toBe('1');
    expect(await alice.locator('#stats-failure-rate').textContent()).toBe('33.3%');
    expect(await alice.locator('#stats-chart rect').count()).toBe(120); // 60 minutes, 2 bars each
    expect(await alice.locator('#stats-chart').getAttribute('aria-label')).toContain('2 completed, 1 failed');

    // A job that completes while the page is open is counted without a reload.
    await alice.locator('#live[data-state="live"]').waitFor();
    await terminal(tokens.alice, await submit(tokens.alice, { type: 'noop' }));
    await alice.locator('[data-count="COMPLETED"]', { hasText: '3' }).waitFor();
    await alice.locator('#stats-completed', { hasText: '3' }).waitFor();
  });

  it('shows duration and error columns, and finds a job by the start of its id', async () => {
    const row = alice.locator(`#jobs-body tr[data-id="${aliceFailed}"]`);
    await row.waitFor();
    expect(await row.locator('.error-cell').textContent()).toBe('noop failed as requested');
    expect(await row.locator('.duration').textContent()).toMatch(/^\d+(\.\d)? (ms|s)$/);

    await alice.locator('#id-search').fill(aliceFailed.slice(0, 6));
    await alice.locator('#id-search').press('Enter');
    await alice.waitForURL(new RegExp(`id=${aliceFailed.slice(0, 6)}`));
    await alice.waitForFunction((id) => {
      const trs = document.querySelectorAll('#jobs-body tr');
      return trs.length === 1 && trs[0].getAttribute('data-id') === id;
    }, aliceFailed);
    // A prefix that is not one is the API's one sentence.
    await alice.locator('#id-search').fill('zz');
    await alice.locator('#id-search').press('Enter');
    await alice
      .locator('#list-view .error-box', { hasText: 'idPrefix must be the start of a job id' })
      .waitFor();
    await alice.goto(url + '/#/');
    await rows(alice).first().waitFor();
  });

  it('retries a failed job from its row, and cancels a running one after asking', async () => {
    await alice.locator(`#jobs-body tr[data-id="${aliceFailed}"] [data-action="retry"]`).click();
    // It ran again: a second "attempt 1 of 1 started" line.
    await until(
      'the retried job to run again',
      async () => (await api(url, tokens.alice, 'GET', `/api/jobs/${aliceFailed}/logs`)).body.items,
      (items: { message: string }[]) =>
        items.filter((l) => l.message === 'attempt 1 of 1 started').length === 2,
      60_000,
    );
    await terminal(tokens.alice, aliceFailed);

    const long = await submit(tokens.alice, { type: 'noop', params: { sleepMs: 600_000 } });
    const cancel = alice.locator(`#jobs-body tr[data-id="${long}"] [data-action="cancel"]`);
    await cancel.click();
    await alice.locator('#confirm[open]').waitFor();
    expect(await alice.locator('#confirm-text').textContent()).toContain(long.slice(0, 8));
    await alice.locator('#confirm-no').click();
    await alice.locator('#confirm').waitFor({ state: 'detached' });
    // Nothing was sent: the answer "keep it" leaves the job alone.
    expect((await api(url, tokens.alice, 'GET', `/api/jobs/${long}`)).body.cancelRequestedAt).toBeNull();
    await alice.locator(`#jobs-body tr[data-id="${long}"] [data-action="cancel"]`).click();
    await alice.locator('#confirm-yes').click();
    await alice
      .locator(`#jobs-body tr[data-id="${long}"][data-status="CANCELLED"]`)
      .waitFor({ timeout: 60_000 });
  });

  it('retries the selected rows, then "all failed" of the filter, each job reported', async () => {
    const erinToken = await createUser('erin');
    const failed: string[] = [];
    for (let i = 0; i < 3; i++)
      failed.push(await submit(erinToken, { type: 'noop', params: { fail: true }, maxAttempts: 1 }));
    const done = await submit(erinToken, { type: 'noop' });
    for (const id of [...failed, done]) await terminal(erinToken, id);

    const erin = await newPage();
    await signIn(erin, erinToken, 'erin');
    await erin.locator('[data-filter="FAILED"]').click();
    await erin.waitForURL(/status=FAILED/);
    await erin.waitForFunction(() => document.querySelectorAll('#jobs-body tr').length === 3);
    await erin.locator('#bulk-retry:disabled').waitFor();
    for (const id of failed.slice(0, 2))
      await erin.locator(`#jobs-body tr[data-id="${id}"] td.pick input`).check();
    await erin.locator('#bulk-count', { hasText: '2 selected' }).waitFor();
    await erin.locator('#bulk-retry').click();
    expect(await erin.locator('#confirm-text').textContent()).toBe('Retry 2 selected jobs?');
    await erin.locator('#confirm-yes').click();
    await erin.locator('#bulk-result', { hasText: 'Retried 2 jobs.' }).waitFor();
    await erin.waitForFunction(() => document.getElementById('bulk-count')!.textContent === '');
    for (const id of failed) await terminal(erinToken, id);

    await erin.locator('#retry-all-failed').click();
    await erin.locator('#confirm-yes').click();
    await erin.locator('#bulk-result', { hasText: 'Retried 3 jobs.' }).waitFor();
    await erin.screenshot({ path: path.join('test-output', 'dashboard-bulk.png'), fullPage: true });
    for (const id of failed) await terminal(erinToken, id);
    expect((await api(url, erinToken, 'GET', `/api/jobs/${done}`)).body.status).toBe('COMPLETED');
    // Another user's failed jobs were never touched: alice's failed job ran twice, not three times.
    const lines = (await api(url, tokens.alice, 'GET', `/api/jobs/${aliceFailed}/logs`)).body.items;
    expect(lines.filter((l: { message: string }) => l.message === 'attempt 1 of 1 started')).toHaveLength(2);

    // Cancel applies to pending and running jobs: on a FAILED list, "Retry all failed" is offered.
    expect(await erin.locator('#retry-all-failed').isVisible()).toBe(true);
    await erin.locator('[data-filter="COMPLETED"]').click();
    await erin.locator('#retry-all-failed').waitFor({ state: 'hidden' });
  });

  it('points a validation error at its field, not at a JSON dump', async () => {
    await alice.goto(url + '/#/new');
    await alice.locator('#job-type').selectOption('noop');
    await alice.locator('#param-sleepMs').fill('-5');
    await alice.locator('#submit').click();
    await alice.locator('#param-sleepMs[aria-invalid="true"]').waitFor();
    const message = await alice.locator('#param-sleepMs-error').textContent();
    expect(message).toMatch(/>=\s?0/);
    expect(await alice.locator('#param-sleepMs').getAttribute('aria-describedby')).toBe(
      'param-sleepMs-error',
    );
    expect(await alice.locator('#submit-error').textContent()).toBe('Check the highlighted field.');
    expect(await alice.locator('#submit-view').textContent()).not.toMatch(/[{}]|"code"|issues/);
    expect(await alice.evaluate(() => document.activeElement?.id)).toBe('param-sleepMs');
    // Fixed, it goes through, and the marks are gone.
    await alice.locator('#param-sleepMs').fill('0');
    await alice.locator('#submit').click();
    await alice.waitForURL(new RegExp(`#/jobs/${UUID}$`));
  });

  it('shows a failed job’s result beside its error, its owner by name, and filters and downloads its log', async () => {
    // Bad rows (no email) past maxErrors 0: FAILED, with the counts as its result, a warning a row.
    aliceCsv = await csvJob(
      tokens.alice,
      'people.csv',
      'id,email\n1,a@example.com\n2,\n3,c@example.com\n4,\n',
      {
        required: ['email'],
        maxErrors: 0,
      },
    );
    expect((await terminal(tokens.alice, aliceCsv)).status).toBe('FAILED');
    await alice.goto(`${url}/#/jobs/${aliceCsv}`);
    await alice.locator('#job-status [data-status="FAILED"]').waitFor();
    await alice.locator('#job-error').waitFor();
    const result = JSON.parse((await alice.locator('#job-result').textContent())!);
    expect(result).toMatchObject({ rows: expect.any(Number), valid: expect.any(Number) });
    expect(result.invalid).toBeGreaterThanOrEqual(1);
    await alice.locator('#job-owner', { hasText: 'alice (you)' }).waitFor();

    const all = (await api(url, tokens.alice, 'GET', `/api/jobs/${aliceCsv}/logs`)).body.items as {
      level: string;
    }[];
    await alice.waitForFunction((n) => document.querySelectorAll('#logs .log').length === n, all.length);
    const visible = () => alice.locator('#logs .log:visible').count();
    expect(await visible()).toBe(all.length);
    await alice.locator('#log-level').selectOption('warn');
    expect(await visible()).toBe(all.filter((l) => l.level !== 'info').length);
    expect(all.filter((l) => l.level === 'warn').length).toBeGreaterThanOrEqual(1); // the bad row
    await alice.locator('#log-level').selectOption('error');
    expect(await visible()).toBe(all.filter((l) => l.level === 'error').length);
    await alice.locator('#log-level').selectOption('all');
    await alice.screenshot({ path: path.join('test-output', 'dashboard-failed-job.png'), fullPage: true });

    const [download] = await Promise.all([
      alice.waitForEvent('download'),
      alice.locator('#logs-download').click(),
    ]);
    expect(download.suggestedFilename()).toBe(`job-${aliceCsv}-logs.ndjson`);
    const text = fs.readFileSync((await download.path())!, 'utf8');
    expect(text.endsWith('\n')).toBe(true);
    expect(
      text
        .trimEnd()
        .split('\n')
        .map((l) => JSON.parse(l)),
    ).toEqual(all);

    // An admin sees the owner's name, on the job and in the list of every job.
    const admin = await newPage();
    await signIn(admin, adminToken, 'admin');
    await admin.goto(`${url}/#/jobs/${aliceCsv}`);
    await admin.locator('#job-owner', { hasText: /^alice$/ }).waitFor();
    await admin.goto(`${url}/#/?all=1`);
    await admin.locator(`#jobs-body tr[data-id="${aliceCsv}"] td.owner`, { hasText: /^alice$/ }).waitFor();
  });

  it('cancels from the job page only once confirmed', async () => {
    const id = await submit(tokens.alice, { type: 'noop', params: { sleepMs: 600_000 } });
    await alice.goto(`${url}/#/jobs/${id}`);
    await alice.locator('#logs-live[data-state="live"]').waitFor();
    await alice.locator('#cancel:enabled').click();
    await alice.locator('#confirm[open]').waitFor();
    await alice.keyboard.press('Escape'); // Escape answers "no"
    await alice.locator('#confirm').waitFor({ state: 'detached' });
    expect((await api(url, tokens.alice, 'GET', `/api/jobs/${id}`)).body.cancelRequestedAt).toBeNull();
    await alice.locator('#cancel').click();
    await alice.locator('#confirm-yes').click();
    await alice.locator('#job-status [data-status="CANCELLED"]').waitFor({ timeout: 60_000 });
  });

  it('shows the list as cards on a 375 px screen, with nothing scrolling sideways', async () => {
    // A long unbroken file name and a long error: the usual causes of a sideways scroll.
    const long = `${'quarterly-revenue-by-region-'.repeat(6)}final.csv`;
    await terminal(tokens.alice, await csvJob(tokens.alice, long, 'a,b\n1,2\n', { required: ['nope'] }));
    const phone = await newPage({ width: 375, height: 812 });
    await signIn(phone, tokens.alice, 'alice');
    await phone.locator('#jobs-body tr', { hasText: long }).waitFor();
    await phone.locator('#stats[data-loaded="true"]').waitFor();
    const fits = () =>
      phone.evaluate(() => ({
        scroll: document.documentElement.scrollWidth,
        inner: window.innerWidth,
      }));
    const list = await fits();
    expect(list.scroll).toBeLessThanOrEqual(list.inner);
    expect(await phone.locator('#jobs thead').isVisible()).toBe(false);
    const label = await phone
      .locator('#jobs-body tr td[data-label="Type"]')
      .first()
      .evaluate((td) => getComputedStyle(td, '::before').content);
    expect(label).toBe('"Type"');
    await phone.screenshot({ path: path.join('test-output', 'dashboard-phone.png'), fullPage: true });
    // The job page fits too.
    await phone.goto(`${url}/#/jobs/${aliceCsv}`);
    await phone.locator('#job-status [data-status="FAILED"]').waitFor();
    const job = await fits();
    expect(job.scroll).toBeLessThanOrEqual(job.inner);
  });

  it('recovers the job page by itself after the API was down, and resumes the live log', async () => {
    const relay = await startRelay(new URL(url).port);
    try {
      const page = await newPage();
      await signIn(page, tokens.alice, 'alice', relay.url);
      await page.locator('#live[data-state="live"]').waitFor();
      const id = await submit(tokens.alice, { type: 'noop', params: { sleepMs: 600_000, logLines: 2 } });

      // Down while the job page opens: it says so and keeps trying, then shows the job.
      relay.down();
      await page.locator('#live[data-state="reconnecting"]').waitFor();
      await page.evaluate((jobId) => (location.hash = `#/jobs/${jobId}`), id);
      await page.locator('#job-reconnecting').waitFor();
      expect(await page.locator('#job-reconnecting').textContent()).toContain('trying again');
      relay.up();
      await page.locator('#job-status [data-status="RUNNING"]').waitFor({ timeout: 60_000 });
      await page.locator('#logs .log .msg', { hasText: 'line 2 of 2' }).waitFor();
      await page.locator('#logs-live[data-state="live"]').waitFor();

      // Down again while it is shown: "reconnecting…", and what happened meanwhile arrives after.
      relay.down();
      await page.locator('#logs-live[data-state="reconnecting"]').waitFor();
      expect(await page.locator('#logs-live').textContent()).toBe('reconnecting…');
      await api(url, tokens.alice, 'POST', `/api/jobs/${id}/cancel`);
      relay.up();
      await page.locator('#job-status [data-status="CANCELLED"]').waitFor({ timeout: 60_000 });
      await page.locator('#logs-live[data-state="ended"]').waitFor();
      expect(await page.locator('#action-error').textContent()).toBe('');

      // A reload while the API does not answer waits for it, still signed in.
      await page.route('**/api/me', (r) => r.abort('connectionrefused'));
      await page.reload();
      await page.locator('#app-reconnecting').waitFor();
      await page.unroute('**/api/me');
      await page.locator('#who-name', { hasText: 'alice' }).waitFor();
      await page.locator('#job-status [data-status="CANCELLED"]').waitFor();
    } finally {
      await relay.close();
    }
  });

  it('lets an admin redrive dead letters and create and revoke tokens; a user sees neither', async () => {
    expect(await alice.locator('[data-nav="dlq"]').isVisible()).toBe(false);
    expect(await alice.locator('[data-nav="tokens"]').isVisible()).toBe(false);

    const admin = await newPage();
    await signIn(admin, adminToken, 'admin');
    if (database) {
      // A job given up on, as the processor leaves one (FAILED, dead_lettered_at set).
      const id = await submit(tokens.alice, { type: 'noop', params: { fail: true }, maxAttempts: 1 });
      await terminal(tokens.alice, id);
      const c = new pg.Client({ connectionString: database.url });
      await c.connect();
      await c.query('UPDATE jobs SET dead_lettered_at = now() WHERE id = $1', [id]);
      await c.end();
      await admin.locator('[data-nav="dlq"]').click();
      const row = admin.locator(`#dlq-body tr[data-id="${id}"]`);
      await row.waitFor();
      expect(await admin.locator('#dlq-summary').textContent()).toMatch(/^1 dead-lettered job;/);
      await row.locator('[data-action="redrive"]').click();
      await admin.locator('#dlq-result', { hasText: 'Requeued 1 job.' }).waitFor();
      await admin.locator('#dlq-empty').waitFor();
      expect((await api(url, adminToken, 'GET', '/api/dlq')).body.total).toBe(0);
    }

    await admin.locator('[data-nav="tokens"]').click();
    await admin.locator('#tokens-body tr').first().waitFor();
    await admin.locator('#token-create').click();
    await admin.locator('#tokens-error', { hasText: 'Give the user' }).waitFor();
    await admin.locator('#token-user').fill('frank');
    await admin.locator('#token-name').fill('ci');
    await admin.locator('#token-expires').fill('30d');
    await admin.locator('#token-create').click();
    const secret = await admin.locator('#token-secret').inputValue();
    expect((await api(url, secret, 'GET', '/api/me')).body.name).toBe('frank');
    const row = admin.locator('#tokens-body tr', { hasText: 'frank' });
    await row.waitFor();
    expect(await row.getAttribute('data-state')).toBe('active');
    await row.locator('[data-action="revoke"]').click();
    expect(await admin.locator('#confirm-text').textContent()).toContain('frank\'s token "ci"');
    await admin.locator('#confirm-yes').click();
    await admin.locator('#tokens-body tr[data-state="revoked"]', { hasText: 'frank' }).waitFor();
    await admin.screenshot({ path: path.join('test-output', 'dashboard-tokens.png'), fullPage: true });
    expect((await api(url, secret, 'GET', '/api/me')).status).toBe(401);

    // A user who opens the admin views by their address is told why, in one sentence.
    await alice.goto(`${url}/#/tokens`);
    await alice.locator('#tokens-error', { hasText: 'token:Manage' }).waitFor();
  });

  it('raised no CSP violations or page errors', () => {
    expect(problems).toEqual([]);
  });
});

/**
 * A TCP relay to the server: `down()` cuts every connection and refuses new ones (the API
 * unreachable), `up()` lets them through again.
 */
async function startRelay(
  port: string,
): Promise<{ url: string; down(): void; up(): void; close(): Promise<void> }> {
  const sockets = new Set<net.Socket>();
  let isDown = false;
  const relay = net.createServer((client) => {
    if (isDown) {
      client.destroy();
      return;
    }
    const upstream = net.connect(Number(port), '127.0.0.1');
    for (const [a, b] of [
      [client, upstream],
      [upstream, client],
    ]) {
      sockets.add(a);
      a.on('close', () => sockets.delete(a));
      a.on('error', () => b.destroy());
      a.pipe(b);
    }
  });
  await new Promise<void>((r) => relay.listen(0, '127.0.0.1', () => r()));
  return {
    url: `http://127.0.0.1:${(relay.address() as AddressInfo).port}`,
    down: () => {
      isDown = true;
      for (const s of sockets) s.destroy();
    },
    up: () => {
      isDown = false;
    },
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((r) => relay.close(() => r()));
    },
  };
}
