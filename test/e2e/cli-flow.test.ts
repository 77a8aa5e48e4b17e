import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ROOT, runCli, tempConfigHome } from '../cli/helpers/run-cli.js';
import { FileLatch, LATCH_HANDLER } from '../helpers/latch.js';
import { startServerProcess, type ServerProcess } from '../helpers/server-process.js';

/**
 * The CLI against the real server: `jobs server --port 0` spawned once for this file, with its own
 * data dir and config home (where it saves the admin profile), stopped with SIGTERM at the end.
 */
// Each CLI run is a fresh Node process (~0.5-2 s on a busy machine) and tests chain several.
jest.setTimeout(180_000);

let server: ServerProcess | undefined;
let url = '';
const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'jobs-e2e-data-'));
const adminHome = tempConfigHome();
const emptyHome = tempConfigHome();
/** The `latch` type (JOBS_HANDLERS): holds a job RUNNING until the test releases it. */
const latch = new FileLatch(path.join(dataDir, 'latch'));

const ORDERS = path.join(ROOT, 'examples', 'orders.csv');
const BAD_ORDERS = path.join(ROOT, 'examples', 'orders-bad-rows.csv');
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const LOG_LINE = /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3} [+-]\d\d:\d\d (INFO|WARN|ERROR) .+$/;

/** As the admin, through the profile the server saved on first start (no login, no env). */
const admin = (args: string[]) => runCli(args, { env: { XDG_CONFIG_HOME: adminHome }, timeoutMs: 60_000 });
/** As the holder of `token`, through the environment. */
const as = (token: string | undefined, args: string[]) =>
  runCli(args, {
    env: { XDG_CONFIG_HOME: emptyHome, JOBS_API_URL: url, JOBS_TOKEN: token },
    timeoutMs: 60_000,
  });

const oneLine = (s: string) => {
  expect(s.trim().split('\n')).toHaveLength(1);
  return s.trim();
};

async function createToken(user: string, ...extra: string[]): Promise<string> {
  const r = await admin(['tokens', 'create', '--user', user, ...extra, '--json']);
  expect(r.code).toBe(0);
  const created = JSON.parse(r.stdout);
  expect(Object.keys(created).sort()).toEqual(['id', 'role', 'token', 'userId']);
  return created.token;
}

beforeAll(async () => {
  // A new user's first start, initdb and all (freshDatabase).
  server = await startServerProcess(
    { JOBS_DATA_DIR: dataDir, XDG_CONFIG_HOME: adminHome, JOBS_HANDLERS: LATCH_HANDLER },
    [],
    undefined,
    { freshDatabase: true },
  );
  url = server.url;
}, 120_000);

afterAll(async () => {
  // A clean shutdown on SIGTERM.
  if (server) expect(await server.stop('SIGTERM')).toBe(0);
  for (const d of [dataDir, adminHome, emptyHome]) fs.rmSync(d, { recursive: true, force: true });
}, 60_000);

describe('jobs CLI against the real server', () => {
  it('saved a local admin profile on first start', () => {
    const profile = JSON.parse(fs.readFileSync(path.join(adminHome, 'jobs', 'config.json'), 'utf8'));
    expect(profile.apiUrl).toBe(url);
    expect(fs.statSync(path.join(adminHome, 'jobs', 'config.json')).mode & 0o777).toBe(0o600);
  });

  it('imports a good CSV with --follow: logs shown, exit 0, COMPLETED with counts', async () => {
    const r = await admin(['submit', ORDERS, '--type', 'csv-import', '--follow']);
    expect(r.code).toBe(0);
    const out = r.stdout.trim().split('\n');
    const id = out[0];
    expect(id).toMatch(UUID);
    expect(out.at(-1)).toBe('COMPLETED');
    const logLines = out.slice(1, -1);
    expect(logLines.length).toBeGreaterThan(0);
    for (const l of logLines) expect(l).toMatch(LOG_LINE);
    expect(new Set(logLines).size).toBe(logLines.length);

    const g = await admin(['get', id, '--json']);
    expect(g.code).toBe(0);
    const job = JSON.parse(g.stdout);
    expect(job).toMatchObject({ id, type: 'csv-import', status: 'COMPLETED', error: null });
    expect(job.input).toMatchObject({ name: 'orders.csv', size: fs.statSync(ORDERS).size });
    expect(job.result.rows).toBeGreaterThan(0);
    expect(job.result).toMatchObject({ valid: job.result.rows, invalid: 0 });
    expect(job.result.columns).toEqual([
      'order_id',
      'customer_email',
      'quantity',
      'unit_price',
      'ordered_at',
      'paid',
    ]);

    // The same lines again, by `logs`, and as JSON.
    const logs = await admin(['logs', id]);
    expect(logs.code).toBe(0);
    expect(logs.stdout.trim().split('\n')).toEqual(logLines);
    const json = await admin(['logs', id, '--json']);
    const items = JSON.parse(json.stdout);
    expect(items).toHaveLength(logLines.length);
    const since = await admin(['logs', id, '--since', String(items[0].seq), '--json']);
    expect(JSON.parse(since.stdout)).toEqual(items.slice(1));
  });

  it('fails a CSV with bad rows: exit 1, the bad rows line numbers printed', async () => {
    const r = await admin([
      'submit',
      BAD_ORDERS,
      '--type',
      'csv-import',
      '--param',
      'maxErrors=0',
      '--params-json',
      '{"types":{"quantity":"integer","ordered_at":"date"},"required":["customer_email"]}',
      '--follow',
    ]);
    expect(r.code).toBe(1);
    const out = r.stdout.trim().split('\n');
    expect(out.at(-1)).toBe('FAILED');
    // The physical line of each bad row of the example (a quoted field spans two lines before them).
    const text = fs.readFileSync(BAD_ORDERS, 'utf8').split(/\r?\n/);
    const lineOf = (orderId: string) => text.findIndex((l) => l.startsWith(`${orderId},`)) + 1;
    for (const orderId of ['20008', '20013', '20020']) {
      expect(r.stdout).toMatch(new RegExp(`^\\S+ \\S+ \\S+ WARN .*\\bline ${lineOf(orderId)}\\b`, 'm'));
    }
    expect(r.stderr).toMatch(/failed/);

    const id = out[0];
    const g = await admin(['get', id, '--json']);
    const job = JSON.parse(g.stdout);
    expect(job.status).toBe('FAILED');
    expect(job.error).toEqual(expect.any(String));
  });

  it("keeps users' jobs apart: 404 for another user, listed for the admin with --all, 403 for --all as a user", async () => {
    const alice = await createToken('alice');
    const bob = await createToken('bob');

    const sub = await as(alice, ['submit', '--type', 'noop', '--param', 'logLines=3', '--wait']);
    expect(sub.code).toBe(0);
    const [id, status] = sub.stdout.trim().split('\n');
    expect(id).toMatch(UUID);
    expect(status).toBe('COMPLETED');

    expect((await as(alice, ['get', id])).code).toBe(0);
    const logsA = await as(alice, ['logs', id]);
    expect(logsA.code).toBe(0);
    expect(logsA.stdout).toMatch(/line 3 of 3/);

    for (const cmd of [
      ['get', id],
      ['logs', id],
    ]) {
      const r = await as(bob, cmd);
      expect(r.code).toBe(1);
      expect(r.stdout).toBe('');
      expect(oneLine(r.stderr)).toMatch(/not found/i);
    }
    const bobJson = await as(bob, ['get', id, '--json']);
    expect(bobJson.code).toBe(1);
    expect(JSON.parse(bobJson.stdout)).toEqual({ error: { code: 'not_found', message: expect.any(String) } });

    const mine = JSON.parse((await as(alice, ['list', '--json'])).stdout);
    expect(mine.items.map((j: { id: string }) => j.id)).toContain(id);
    const theirs = JSON.parse((await as(bob, ['list', '--json'])).stdout);
    expect(theirs.items.map((j: { id: string }) => j.id)).not.toContain(id);

    const all = await admin(['list', '--all', '--json', '--limit', '100']);
    expect(all.code).toBe(0);
    expect(JSON.parse(all.stdout).items.map((j: { id: string }) => j.id)).toContain(id);
    const table = await admin(['list', '--all']);
    expect(table.stdout).toContain(`│ ${id.slice(0, 8)} │`); // short ids in the table
    expect((await admin(['list', '--all', '--full-ids'])).stdout).toContain(id);

    const denied = await as(bob, ['list', '--all']);
    expect(denied.code).toBe(1);
    expect(oneLine(denied.stderr)).toMatch(/admin|forbidden|not allowed|permission/i);
  });

  it('rejects a bad token or none with a 401 sentence', async () => {
    const bad = await as('jobs_not-a-real-token', ['list']);
    expect(bad.code).toBe(1);
    expect(bad.stdout).toBe('');
    const badMessage = oneLine(bad.stderr);
    expect(badMessage.length).toBeGreaterThan(0);

    const none = await as(undefined, ['list']);
    expect(none.code).toBe(1);
    expect(oneLine(none.stderr).length).toBeGreaterThan(0);

    const json = await as('jobs_not-a-real-token', ['list', '--json']);
    expect(json.code).toBe(1);
    expect(JSON.parse(json.stdout).error.code).toBe('unauthorized');
  });

  it('a job:Read token cannot submit (403) but can list', async () => {
    const reader = await createToken('reader', '--permission', 'job:Read');
    const r = await as(reader, ['submit', '--type', 'noop']);
    expect(r.code).toBe(1);
    expect(oneLine(r.stderr)).toMatch(/job:Create|permission|forbidden|not allowed/i);
    const j = await as(reader, ['submit', '--type', 'noop', '--json']);
    expect(JSON.parse(j.stdout).error.code).toBe('forbidden');
    expect((await as(reader, ['list'])).code).toBe(0);
  });

  it('an unknown type is a usage error (exit 2) and the message lists the valid types', async () => {
    const r = await admin(['submit', '--type', 'no-such-type']);
    expect(r.code).toBe(2);
    const msg = oneLine(r.stderr);
    expect(msg).toMatch(/csv-import/);
    expect(msg).toMatch(/noop/);
  });

  it('cancel, follow the cancelled job (exit 1), retry it', async () => {
    // Held by its latch (never released): it cannot end before it is cancelled.
    const sub = await admin(['submit', '--type', 'latch', '--param', `dir=${latch.dir}`, '--json']);
    const id = JSON.parse(sub.stdout).id;
    const c = await admin(['cancel', id, '--json']);
    expect(c.code).toBe(0);
    expect(['CANCELLED', 'RUNNING', 'PENDING']).toContain(JSON.parse(c.stdout).status);
    const f = await admin(['logs', id, '--follow']);
    expect(f.code).toBe(1);
    expect(JSON.parse((await admin(['get', id, '--json'])).stdout).status).toBe('CANCELLED');

    const again = await admin(['cancel', id]);
    expect(again.code).toBe(1); // 409: not cancellable any more
    expect(oneLine(again.stderr).length).toBeGreaterThan(0);

    const rt = await admin(['retry', id, '--json']);
    expect(rt.code).toBe(0);
    expect(['PENDING', 'RUNNING']).toContain(JSON.parse(rt.stdout).status);
    expect((await admin(['cancel', id])).code).toBe(0);
  });

  it('an idempotency key returns the same job', async () => {
    const a = await admin(['submit', '--type', 'noop', '--idempotency-key', 'e2e-key-1']);
    const b = await admin(['submit', '--type', 'noop', '--idempotency-key', 'e2e-key-1']);
    expect(a.code).toBe(0);
    expect(b.code).toBe(0);
    expect(b.stdout).toBe(a.stdout);
  });

  it('login checks the token and saves the profile; tokens list and revoke', async () => {
    const dave = await createToken('dave', '--name', 'laptop');
    const home = tempConfigHome();
    try {
      const rejected = await runCli(['login', '--api-url', url, '--token', 'jobs_wrong'], {
        env: { XDG_CONFIG_HOME: home },
      });
      expect(rejected.code).toBe(1);
      expect(fs.existsSync(path.join(home, 'jobs', 'config.json'))).toBe(false);

      const ok = await runCli(['login', '--api-url', url, '--token', dave], {
        env: { XDG_CONFIG_HOME: home },
      });
      expect(ok.code).toBe(0);
      expect(oneLine(ok.stdout)).toBe(`Logged in to ${url} as dave (user)`);
      const list = await runCli(['list', '--json'], { env: { XDG_CONFIG_HOME: home } });
      expect(list.code).toBe(0);
    } finally {
      fs.rmSync(home, { recursive: true, force: true });
    }

    const tokens = JSON.parse((await admin(['tokens', 'list', '--json'])).stdout).items as {
      id: string;
      name: string | null;
      userName: string;
    }[];
    const laptop = tokens.find((t) => t.userName === 'dave' && t.name === 'laptop');
    expect(laptop).toBeDefined();
    expect((await admin(['tokens', 'list'])).stdout).toContain(laptop!.id);
    const rv = await admin(['tokens', 'revoke', laptop!.id]);
    expect(rv.code).toBe(0);
    const after = await as(dave, ['list']);
    expect(after.code).toBe(1);
  });
});
