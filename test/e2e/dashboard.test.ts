import { afterAll, beforeAll, expect, it, jest } from '@jest/globals';
import fs from 'node:fs';
import net, { type AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { ROOT, tempConfigHome } from '../cli/helpers/run-cli.js';
import { until } from '../helpers/counting.js';
import { api } from '../helpers/api-server.js';
import { profileToken, type ServerProcess, startServerProcess } from '../helpers/server-process.js';
import { describeBrowser, haveChromium, launchChromium } from '../helpers/chromium.js';

/**
 * The dashboard in a real browser (Debian's Chromium driven by playwright-core) against a real
 * `jobs server` process: sign-in, the submit form with a file, live status and log lines, cancel
 * and retry, the list's live updates, and one user never seeing another's jobs.
 */

// A browser and a server on a loaded two-core machine.
jest.setTimeout(180_000);

const ORDERS = path.join(ROOT, 'examples', 'orders.csv');
const OUT = path.join(ROOT, 'test-output');
const UUID = '[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}';
const XSS = '<img src=x onerror=window.__xss=1>';

let server: ServerProcess | undefined;
let browser: Browser | undefined;
let url = '';
let dataDir = '';
let configHome = '';
let adminToken = '';
const tokens: Record<string, string> = {};
const tokenIds: Record<string, string> = {};
/** Every CSP violation, page error or request carrying a token in its URL, from every page. */
const problems: string[] = [];
const contexts: BrowserContext[] = [];

async function newPage(): Promise<Page> {
  const context = await browser!.newContext({ viewport: { width: 1200, height: 900 } });
  contexts.push(context);
  const page = await context.newPage();
  page.setDefaultTimeout(30_000);
  page.on('console', (m) => {
    if (m.type() === 'error' && /Content Security Policy|Trusted Type/i.test(m.text()))
      problems.push(m.text());
  });
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  page.on('request', (r) => {
    for (const t of [adminToken, ...Object.values(tokens)]) {
      if (t && r.url().includes(t)) problems.push(`token in a URL: ${r.url()}`);
    }
  });
  return page;
}

async function signIn(page: Page, token: string, name: string, base = url): Promise<void> {
  await page.goto(base + '/');
  await page.locator('#token').fill(token);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await expect(page.locator('#who-name').textContent()).resolves.toBeDefined();
  await page.locator('#who-name', { hasText: name }).waitFor();
}

const statusOf = (page: Page) => page.locator('#job-status [data-status]').getAttribute('data-status');

async function waitForStatus(page: Page, status: string, timeout = 60_000): Promise<void> {
  await page.locator(`#job-status [data-status="${status}"]`).waitFor({ timeout });
}

function jobIdOf(page: Page): string {
  const m = new RegExp(`#/jobs/(${UUID})$`).exec(page.url());
  if (!m) throw new Error(`not on a job page: ${page.url()}`);
  return m[1];
}

/** The messages of the log lines shown, in order. */
const logMessages = (page: Page) => page.locator('#logs .log .msg').allTextContents();

async function createUser(name: string): Promise<string> {
  const r = await api(url, adminToken, 'POST', '/api/tokens', { user: name });
  expect(r.status).toBe(201);
  tokens[name] = r.body.token;
  tokenIds[name] = r.body.id;
  return r.body.token;
}

beforeAll(async () => {
  if (!haveChromium) return;
  fs.mkdirSync(OUT, { recursive: true });
  dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'jobs-dash-data-'));
  configHome = tempConfigHome();
  server = await startServerProcess({ JOBS_DATA_DIR: dataDir, XDG_CONFIG_HOME: configHome });
  url = server.url;
  adminToken = profileToken(configHome);
  await createUser('alice');
  await createUser('bob');
  browser = await launchChromium();
}, 150_000);

afterAll(async () => {
  for (const c of contexts) await c.close().catch(() => {});
  await browser?.close();
  if (server) expect(await server.stop('SIGTERM')).toBe(0);
  for (const d of [dataDir, configHome]) if (d) fs.rmSync(d, { recursive: true, force: true });
}, 60_000);

describeBrowser('the dashboard in Chromium', () => {
  let alice: Page;
  let aliceCsvJob = '';

  it('serves the page with a strict Content-Security-Policy', async () => {
    const res = await fetch(url + '/');
    expect(res.status).toBe(200);
    const csp = res.headers.get('content-security-policy') ?? '';
    for (const d of [
      "default-src 'self'",
      "script-src 'self'",
      "frame-ancestors 'none'",
      "object-src 'none'",
    ]) {
      expect(csp).toContain(d);
    }
    expect(csp).not.toContain('unsafe-inline');
    expect(res.headers.get('x-content-type-options')).toBe('nosniff');
  });

  it('rejects a bad token, then signs in with a good one', async () => {
    alice = await newPage();
    await alice.goto(url + '/');
    await alice.locator('#token').waitFor();
    // Light: on a first visit (empty cache) the whole dashboard (page, styles, scripts, icon) is a
    // few dozen KB in a dozen requests.
    const files = await alice.evaluate(() =>
      [...performance.getEntriesByType('navigation'), ...performance.getEntriesByType('resource')]
        .map((e) => ({ url: e.name, bytes: (e as PerformanceResourceTiming).encodedBodySize }))
        .filter((e) => !new URL(e.url).pathname.startsWith('/api/')),
    );
    const bytes = files.reduce((n, f) => n + f.bytes, 0);
    expect(files.length).toBeLessThanOrEqual(12);
    expect(bytes).toBeGreaterThan(10_000);
    expect(bytes).toBeLessThan(100_000);
    const loadedMs = await alice.evaluate(
      () => (performance.getEntriesByType('navigation')[0] as PerformanceNavigationTiming).loadEventEnd,
    );
    fs.writeFileSync(
      path.join(OUT, 'dashboard-figures.json'),
      JSON.stringify({ files: files.length, bytes, loadedMs: Math.round(loadedMs) }, null, 2),
    );
    await alice.locator('#token').fill('jobs_not-a-real-token');
    await alice.getByRole('button', { name: 'Sign in' }).click();
    await alice.locator('#signin-error', { hasText: 'not valid' }).waitFor();
    await signIn(alice, tokens.alice, 'alice');
    // A user's list starts empty, and the admin-only toggle is absent.
    await alice.locator('#jobs-empty').waitFor({ state: 'visible' });
    expect(await alice.locator('#all-jobs').count()).toBe(0);
    // The token is kept for this tab only.
    expect(await alice.evaluate(() => sessionStorage.getItem('jobs.token'))).toBe(tokens.alice);
    expect(await alice.evaluate(() => localStorage.length)).toBe(0);
  });

  it('uploads a CSV through the form with progress, and watches it complete with its log lines', async () => {
    await alice.getByRole('link', { name: 'New job' }).first().click();
    await alice.locator('#job-type').selectOption('csv-import');
    // Fields generated from the type's JSON Schema.
    await alice.locator('#param-required').fill('order_id, customer_email');
    await alice.locator('#param-maxErrors').fill('0');
    await alice.locator('#file').setInputFiles(ORDERS);
    await alice.screenshot({ path: path.join(OUT, 'dashboard-new.png'), fullPage: true });
    // Record every value the upload progress bar takes.
    await alice.evaluate(() => {
      const bar = document.getElementById('upload-progress') as HTMLProgressElement;
      const seen: number[][] = [];
      (window as unknown as { __progress: number[][] }).__progress = seen;
      new MutationObserver(() => seen.push([bar.value, bar.max])).observe(bar, { attributes: true });
    });
    await alice.locator('#submit').click();
    await alice.waitForURL(new RegExp(`#/jobs/${UUID}$`));
    aliceCsvJob = jobIdOf(alice);

    const progress = await alice.evaluate(
      () => (window as unknown as { __progress?: number[][] }).__progress,
    );
    // The page navigated, so the recorder is gone with the form's document state only if the
    // document was replaced; it was not (hash routing), so the values are still here.
    expect(progress!.length).toBeGreaterThan(0);
    const [lastValue, lastMax] = progress!.at(-1)!;
    expect(lastMax).toBeGreaterThanOrEqual(fs.statSync(ORDERS).size);
    expect(lastValue).toBe(lastMax);

    await waitForStatus(alice, 'COMPLETED');
    await alice.locator('#logs .log .msg', { hasText: 'completed in' }).waitFor();
    const messages = await logMessages(alice);
    expect(messages[0]).toMatch(/^attempt 1 of \d+ started$/);
    expect(messages).toContain(`importing orders.csv (${fs.statSync(ORDERS).size} bytes)`);
    expect(messages.some((m) => /^checked orders\.csv: 200 rows, 200 valid, 0 invalid/.test(m))).toBe(true);
    // Each line once, in order.
    const seqs = await alice
      .locator('#logs .log')
      .evaluateAll((els) => els.map((e) => Number(e.getAttribute('data-seq'))));
    expect(seqs).toEqual([...seqs].sort((a, b) => a - b));
    expect(new Set(seqs).size).toBe(seqs.length);

    expect(JSON.parse((await alice.locator('#job-result').textContent())!)).toMatchObject({
      rows: 200,
      valid: 200,
      invalid: 0,
    });
    // As stored: the fields' values, plus the defaults the server filled in.
    expect(JSON.parse((await alice.locator('#job-params').textContent())!)).toMatchObject({
      required: ['order_id', 'customer_email'],
      maxErrors: 0,
    });
    await expect(alice.locator('#input-name').textContent()).resolves.toBe('orders.csv');
    expect(
      await alice.locator('#job-progress progress').evaluate((p: HTMLProgressElement) => p.value / p.max),
    ).toBe(1);
    expect(await alice.locator('#cancel').isDisabled()).toBe(true);
    expect(await alice.locator('#retry').isDisabled()).toBe(true);
    await alice.screenshot({ path: path.join(OUT, 'dashboard.png'), fullPage: true });
  });

  it('follows a long noop job live, cancels it, retries it and cancels it again', async () => {
    await alice.goto(url + '/#/new');
    await alice.locator('#job-type').selectOption('noop');
    expect(await alice.locator('#file-box').isVisible()).toBe(true); // noop takes an optional file
    await alice.locator('#param-sleepMs').fill('600000');
    await alice.locator('#param-logLines').fill('3');
    await alice.locator('#submit').click();
    await alice.waitForURL(new RegExp(`#/jobs/${UUID}$`));
    const id = jobIdOf(alice);

    // Lines shown while the job is still running: they came live, not after the end.
    await waitForStatus(alice, 'RUNNING');
    await alice.locator('#logs .log .msg', { hasText: 'line 3 of 3' }).waitFor();
    expect(await statusOf(alice)).toBe('RUNNING');
    // Through the event stream (the indicator says "live" only while one is connected).
    await alice.locator('#logs-live[data-state="live"]').waitFor();
    expect(await alice.locator('#logs-live').textContent()).toBe('live');
    expect(await alice.locator('#cancel').isEnabled()).toBe(true);

    await alice.locator('#cancel').click();
    await alice.locator('#confirm-yes').click(); // cancel asks first
    await waitForStatus(alice, 'CANCELLED');
    expect((await api(url, tokens.alice, 'GET', `/api/jobs/${id}`)).body.status).toBe('CANCELLED');
    await alice.locator('#logs-live[data-state="ended"]').waitFor();

    // Retry (with fresh attempts): it runs again, and the same page follows its new lines.
    await alice.locator('#retry').click();
    await alice.waitForFunction(
      () =>
        Array.from(document.querySelectorAll('#logs .log .msg')).filter(
          (m) => m.textContent === 'line 3 of 3',
        ).length === 2,
    );
    await waitForStatus(alice, 'RUNNING');
    const messages = await logMessages(alice);
    expect(messages.filter((m) => /^attempt 1 of \d+ started$/.test(m))).toHaveLength(2);
    await alice.locator('#cancel').click();
    await alice.locator('#confirm-yes').click(); // cancel asks first
    await waitForStatus(alice, 'CANCELLED');
    await alice.screenshot({ path: path.join(OUT, 'dashboard-cancelled.png'), fullPage: true });
  });

  it('renders a hostile file name, params and error as text, never as HTML', async () => {
    await alice.goto(url + '/#/new');
    await alice.locator('#job-type').selectOption('csv-import');
    await alice.locator('#param-required').fill(`${XSS}`);
    await alice.locator('#file').setInputFiles({
      name: `${XSS}.csv`,
      mimeType: 'text/csv',
      buffer: fs.readFileSync(ORDERS),
    });
    await alice.locator('#submit').click();
    await alice.waitForURL(new RegExp(`#/jobs/${UUID}$`));
    await waitForStatus(alice, 'FAILED');
    await alice.locator('#logs .log .msg', { hasText: `importing ${XSS}.csv` }).waitFor();
    await expect(alice.locator('#input-name').textContent()).resolves.toBe(`${XSS}.csv`);
    await expect(alice.locator('#job-error').textContent()).resolves.toContain(XSS);
    await expect(alice.locator('#job-params').textContent()).resolves.toContain(XSS);
    expect(await alice.locator('#main img').count()).toBe(0);
    expect(await alice.evaluate(() => (window as unknown as { __xss?: number }).__xss)).toBeUndefined();

    // In the list too.
    await alice.goto(url + '/#/');
    await alice.locator('#jobs-body tr', { hasText: `${XSS}.csv` }).waitFor();
    expect(await alice.locator('#main img').count()).toBe(0);
    expect(await alice.evaluate(() => (window as unknown as { __xss?: number }).__xss)).toBeUndefined();
  });

  it("lists the user's jobs with status filters, updated live", async () => {
    await alice.goto(url + '/#/');
    await alice.locator('#live[data-state="live"]').waitFor();
    // "live" shows as the stream connects; the snapshot it triggers may land a moment later.
    await alice.waitForFunction(() => document.querySelectorAll('#jobs-body tr').length === 3);
    await alice.locator('[data-filter="FAILED"]').click();
    await alice.locator('#jobs-body tr').first().waitFor();
    await alice.waitForFunction(() => document.querySelectorAll('#jobs-body tr').length === 1);
    await alice.locator('[data-filter="COMPLETED"]').click();
    // Until the COMPLETED page lands, the FAILED filter's one row is still shown: wait for the
    // row expected, not for a row count the old page already has.
    await alice.locator(`#jobs-body tr[data-id="${aliceCsvJob}"]`).waitFor();
    await alice.waitForFunction(() => document.querySelectorAll('#jobs-body tr').length === 1);
    await expect(alice.locator(`#jobs-body tr[data-id="${aliceCsvJob}"]`).count()).resolves.toBe(1);

    // A job created elsewhere shows up without a reload, and moves through its statuses.
    await alice.locator('[data-filter="ALL"]').click();
    await alice.locator('#live[data-state="live"]').waitFor();
    const created = await api(url, tokens.alice, 'POST', '/api/jobs', {
      type: 'noop',
      params: { sleepMs: 1500 },
    });
    expect(created.status).toBe(201);
    await alice
      .locator(`#jobs-body tr[data-id="${created.body.id}"][data-status="COMPLETED"]`)
      .waitFor({ timeout: 60_000 });
    await alice.screenshot({ path: path.join(OUT, 'dashboard-list.png'), fullPage: true });
  });

  it("shows a second user none of the first user's jobs", async () => {
    const bob = await newPage();
    await signIn(bob, tokens.bob, 'bob');
    await bob.locator('#live[data-state="live"]').waitFor();
    await bob.locator('#jobs-empty').waitFor({ state: 'visible' });
    expect(await bob.locator('#jobs-body tr').count()).toBe(0);

    // Alice's new job does not appear live in Bob's list; Bob's own does.
    const theirs = await api(url, tokens.alice, 'POST', '/api/jobs', { type: 'noop', params: {} });
    const mine = await api(url, tokens.bob, 'POST', '/api/jobs', { type: 'noop', params: {} });
    await bob.locator(`#jobs-body tr[data-id="${mine.body.id}"]`).waitFor();
    await waitForTerminal(theirs.body.id);
    // One more job of Bob's, created after Alice's job ended: once it shows, every change of
    // Alice's job has been through Bob's stream before it, so what is not shown never will be.
    const marker = await api(url, tokens.bob, 'POST', '/api/jobs', { type: 'noop', params: {} });
    await bob.locator(`#jobs-body tr[data-id="${marker.body.id}"]`).waitFor();
    const ids = await bob
      .locator('#jobs-body tr')
      .evaluateAll((rows) => rows.map((r) => r.getAttribute('data-id')));
    expect(ids.sort()).toEqual([mine.body.id, marker.body.id].sort());

    // Alice's job page, opened by Bob, is "not found".
    await bob.goto(`${url}/#/jobs/${aliceCsvJob}`);
    await bob.locator('#job-not-found').waitFor();
    expect(await bob.locator('#job-not-found').textContent()).toContain('Job not found');
    await bob.screenshot({ path: path.join(OUT, 'dashboard-not-found.png') });
    expect(await bob.locator('#logs .log').count()).toBe(0);

    // Bob's token is revoked: his next request signs the tab out, with a reason. That request is
    // either the filter's below or the live list's reconnect (the server ends a revoked token's
    // streams within its 2 s re-check), whichever comes first; after the second, the filter is
    // gone, so the click is only tried while the filter is still there.
    await bob.goto(`${url}/#/`);
    await bob.locator('#live[data-state="live"]').waitFor();
    expect((await api(url, adminToken, 'DELETE', `/api/tokens/${tokenIds.bob}`)).status).toBe(200);
    await bob
      .locator('[data-filter="RUNNING"]')
      .click({ timeout: 1_000 })
      .catch(() => {}); // signed out by the stream already
    await bob.locator('#signin-error', { hasText: 'no longer valid' }).waitFor();
    expect(await bob.evaluate(() => sessionStorage.getItem('jobs.token'))).toBeNull();
    expect(await bob.locator('#who').isHidden()).toBe(true);
  });

  it('lets an admin see every job with the "all jobs" toggle', async () => {
    const admin = await newPage();
    await signIn(admin, adminToken, 'admin');
    await admin.locator('#jobs-empty').waitFor({ state: 'visible' });
    await admin.locator('#all-jobs').check();
    await admin.waitForURL(/#\/\?all=1$/);
    await admin.locator(`#jobs-body tr[data-id="${aliceCsvJob}"]`).waitFor();
    const all = (await api(url, adminToken, 'GET', '/api/jobs?all=true&limit=100')).body.items.length;
    await admin.waitForFunction((n) => document.querySelectorAll('#jobs-body tr').length === n, all);
    // An admin opens anyone's job.
    await admin.goto(`${url}/#/jobs/${aliceCsvJob}`);
    await waitForStatus(admin, 'COMPLETED');
  });

  // After the admin's test, which expects every job on one page.
  it('pages through a long list with "Load more"', async () => {
    const carol = await createUser('carol');
    const ids: string[] = [];
    for (let i = 0; i < 55; i++) {
      const r = await api(url, carol, 'POST', '/api/jobs', { type: 'noop', params: {} });
      expect(r.status).toBe(201);
      ids.push(r.body.id);
    }
    const page = await newPage();
    await signIn(page, carol, 'carol');
    await page.waitForFunction(() => document.querySelectorAll('#jobs-body tr').length === 50);
    await page.getByRole('button', { name: 'Load more' }).click();
    await page.waitForFunction(() => document.querySelectorAll('#jobs-body tr').length === 55);
    expect(await page.getByRole('button', { name: 'Load more' }).isVisible()).toBe(false);
    const shown = await page
      .locator('#jobs-body tr')
      .evaluateAll((rows) => rows.map((r) => r.getAttribute('data-id')));
    expect(shown).toEqual([...ids].reverse()); // newest first, each once
  });

  it('signs out: the token is forgotten and the sign-in form is back', async () => {
    await alice.getByRole('button', { name: 'Sign out' }).click();
    await alice.locator('#signin').waitFor();
    expect(await alice.evaluate(() => sessionStorage.getItem('jobs.token'))).toBeNull();
    await alice.reload();
    await alice.locator('#signin').waitFor();
  });

  it('parses event streams by the spec (chunks split anywhere, CRLF, comments, ids, retry)', async () => {
    const page = await newPage();
    await page.goto(url + '/');
    const results = await page.evaluate(async () => {
      // The dashboard's own module, as the page loads it (a variable: TypeScript should not resolve it).
      const module = './js/sse.js';
      const { SseParser } = await import(module);
      const stream =
        'retry: 1500\r\n\r\n: ping\r\nevent: log\r\nid: 7\r\ndata: {"a":1}\r\n\r\n' +
        'data: two\ndata:lines\n\nevent: job\rdata: x\r\r' +
        'event: lonely\n\nid: 9\nevent: end\ndata: {}\n\nevent: cut\ndata: not finished';
      // Chunks of every size from 1 to 8 bytes: splits fall everywhere, CR|LF included.
      return [1, 2, 3, 4, 5, 6, 7, 8, stream.length].map((size) => {
        const out: unknown[] = [];
        const p = new SseParser((e: unknown) => out.push(e));
        for (let i = 0; i < stream.length; i += size) p.feed(stream.slice(i, i + size));
        return { out, retry: p.retry, lastEventId: p.lastEventId };
      });
    });
    for (const r of results) {
      expect(r).toEqual({
        out: [
          { event: 'log', data: '{"a":1}', id: '7' },
          { event: 'message', data: 'two\nlines', id: '7' },
          { event: 'job', data: 'x', id: '7' },
          { event: 'end', data: '{}', id: '9' },
        ],
        retry: 1500,
        lastEventId: '9',
      });
    }
  });

  it('reconnects after the connection drops, resuming the log at Last-Event-ID', async () => {
    // The browser talks to the server through a TCP relay the test can cut.
    const relay = await startRelay(new URL(url).port);
    try {
      const page = await newPage();
      const lastEventIds: string[] = [];
      page.on('request', (r) => {
        if (r.url().endsWith('/logs')) lastEventIds.push(r.headers()['last-event-id'] ?? '');
      });
      await signIn(page, tokens.alice, 'alice', relay.url);
      const job = await api(url, tokens.alice, 'POST', '/api/jobs', {
        type: 'noop',
        params: { logLines: 4, sleepMs: 600_000 },
      });
      await page.goto(`${relay.url}/#/jobs/${job.body.id}`);
      await page.locator('#logs .log .msg', { hasText: 'line 4 of 4' }).waitFor();
      await page.locator('#logs-live[data-state="live"]').waitFor();

      for (let cut = 1; cut <= 2; cut++) {
        relay.cut();
        await page.locator('#logs-live[data-state="reconnecting"]').waitFor();
        await page.locator('#logs-live[data-state="live"]').waitFor();
      }
      // Lines written while connected again arrive, and the end closes the stream for good.
      await api(url, tokens.alice, 'POST', `/api/jobs/${job.body.id}/cancel`);
      await waitForStatus(page, 'CANCELLED');
      await page.locator('#logs-live[data-state="ended"]').waitFor();

      const seqs = await page
        .locator('#logs .log')
        .evaluateAll((els) => els.map((e) => Number(e.getAttribute('data-seq'))));
      const all = (await api(url, tokens.alice, 'GET', `/api/jobs/${job.body.id}/logs`)).body.items.map(
        (l: { seq: number }) => l.seq,
      );
      expect(seqs).toEqual(all.slice(0, seqs.length));
      expect(seqs.length).toBeGreaterThanOrEqual(5); // "attempt 1 of 3 started" and 4 lines
      // The first request started from the beginning; each reconnect resumed after the last line.
      expect(lastEventIds[0]).toBe('');
      expect(lastEventIds.slice(1, 3)).toEqual([String(seqs[4]), String(seqs[4])]);

      // The list reconnects as well, and catches up on what happened while it was away.
      await page.goto(`${relay.url}/#/`);
      await page.locator('#live[data-state="live"]').waitFor();
      relay.cut();
      const during = await api(url, tokens.alice, 'POST', '/api/jobs', { type: 'noop', params: {} });
      await page
        .locator(`#jobs-body tr[data-id="${during.body.id}"][data-status="COMPLETED"]`)
        .waitFor({ timeout: 60_000 });
    } finally {
      await relay.close();
    }
  });

  it('lists the schedules (names as text), pauses and resumes one; another user sees none', async () => {
    const created = await api(url, tokens.alice, 'POST', '/api/schedules', {
      cron: '0 9 * * 1-5',
      timezone: 'Europe/Paris',
      type: 'noop',
      name: XSS,
    });
    expect(created.status).toBe(201);
    const id = created.body.id as string;
    const page = await newPage();
    await signIn(page, tokens.alice, 'alice');
    await page.goto(`${url}/#/schedules`);
    const row = page.locator(`#schedules-body tr[data-id="${id}"]`);
    await row.waitFor();
    expect(await row.locator('td').first().textContent()).toBe(XSS);
    expect(await page.evaluate(() => (window as unknown as { __xss?: number }).__xss)).toBeUndefined();
    expect(await row.locator('td').nth(1).textContent()).toBe('0 9 * * 1-5');
    await row.locator('[data-action="pause"]').click();
    await page.locator(`#schedules-body tr[data-id="${id}"] [data-action="resume"]`).waitFor();
    expect((await api(url, tokens.alice, 'GET', `/api/schedules/${id}`)).body.paused).toBe(true);
    await page.locator(`#schedules-body tr[data-id="${id}"] [data-action="resume"]`).click();
    await page.locator(`#schedules-body tr[data-id="${id}"] [data-action="pause"]`).waitFor();
    expect((await api(url, tokens.alice, 'GET', `/api/schedules/${id}`)).body.paused).toBe(false);
    await page.screenshot({ path: path.join(OUT, 'dashboard-schedules.png'), fullPage: true });

    // A job made by a schedule names it (and its tick) on its page.
    const every = await api(url, tokens.alice, 'POST', '/api/schedules', {
      cron: '* * * * * *',
      type: 'noop',
    });
    const ticked = await until(
      'a scheduled job',
      async () => (await api(url, tokens.alice, 'GET', `/api/schedules/${every.body.id}`)).body,
      (s) => s.lastJobId !== null,
      30_000,
    );
    await api(url, tokens.alice, 'DELETE', `/api/schedules/${every.body.id}`);
    await page.goto(`${url}/#/jobs/${ticked.lastJobId}`);
    await page.locator('#job-meta a[href="#/schedules"]', { hasText: every.body.id }).waitFor();
    expect(await page.locator('#job-meta').textContent()).toMatch(/Schedule.*\(tick /);

    // (Bob's token was revoked above: another user of our own.)
    const dave = await newPage();
    await signIn(dave, await createUser('dave'), 'dave');
    await dave.goto(`${url}/#/schedules`);
    await dave.locator('#schedules-empty:not([hidden])').waitFor();
    expect(await dave.locator('#schedules-body tr').count()).toBe(0);
    await api(url, tokens.alice, 'DELETE', `/api/schedules/${id}`);
  });

  it('raised no CSP violations or page errors, and never put a token in a URL', () => {
    expect(problems).toEqual([]);
  });
});

async function waitForTerminal(id: string): Promise<void> {
  const until = Date.now() + 60_000;
  for (;;) {
    const { body } = await api(url, adminToken, 'GET', `/api/jobs/${id}`);
    if (['COMPLETED', 'FAILED', 'CANCELLED'].includes(body.status)) return;
    if (Date.now() > until) throw new Error(`job ${id} is still ${body.status}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** A TCP relay to the server on 127.0.0.1 whose connections the test can cut at will. */
async function startRelay(port: string): Promise<{ url: string; cut(): void; close(): Promise<void> }> {
  const sockets = new Set<net.Socket>();
  const relay = net.createServer((client) => {
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
    cut: () => {
      for (const s of sockets) s.destroy();
    },
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((r) => relay.close(() => r()));
    },
  };
}
