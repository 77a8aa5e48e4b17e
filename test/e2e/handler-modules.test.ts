import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { api, waitForJob } from '../helpers/api-server.js';
import { createScratchDatabase } from '../helpers/db.js';
import {
  type CliProcess,
  profileToken,
  type ServerProcess,
  startServerProcess,
  startWorkerProcess,
} from '../helpers/server-process.js';
import { runCli } from '../cli/helpers/run-cli.js';

/**
 * A team's own job types (examples/handlers/) reach every process through JOBS_HANDLERS, with no
 * edit to the platform: `jobs server` (the API, GET /api/job-types that the dashboard reads, and
 * its embedded worker), `jobs types`, and `jobs worker`. A module of the wrong shape stops
 * `jobs server` at start with one sentence. The paths are relative: resolved against the working
 * directory, as a user types them.
 */
const HANDLERS = 'examples/handlers/greet.mjs,examples/handlers/count-lines.mjs';

/** The job's log messages, oldest first. */
async function logsOf(url: string, token: string, id: string): Promise<string[]> {
  const { body } = await api(url, token, 'GET', `/api/jobs/${id}/logs`);
  return (body.items as { message: string }[]).map((l) => l.message);
}

describe('jobs server with JOBS_HANDLERS', () => {
  let server: ServerProcess;
  let configHome: string;
  let dataDir: string;
  const token = () => profileToken(configHome);

  beforeAll(async () => {
    configHome = fs.mkdtempSync(path.join(os.tmpdir(), 'jobs-handlers-cfg-'));
    dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'jobs-handlers-data-'));
    server = await startServerProcess({
      XDG_CONFIG_HOME: configHome,
      JOBS_DATA_DIR: dataDir,
      JOBS_HANDLERS: HANDLERS,
    });
  }, 120_000);

  afterAll(async () => {
    await server?.stop();
    fs.rmSync(configHome, { recursive: true, force: true });
    fs.rmSync(dataDir, { recursive: true, force: true });
  });

  it('lists the types beside the built-ins in GET /api/job-types (what the dashboard reads)', async () => {
    const { status, body } = await api(server.url, token(), 'GET', '/api/job-types');
    expect(status).toBe(200);
    expect((body as { type: string }[]).map((t) => t.type)).toEqual([
      'count-lines',
      'csv-import',
      'greet',
      'noop',
    ]);
    expect(body.find((t: { type: string }) => t.type === 'greet')).toMatchObject({
      description: 'Greets each name in turn, pausing pauseMs between two (cancellable).',
      input: 'none',
      params: {
        type: 'object',
        properties: { greeting: { type: 'string', default: 'hello' }, pauseMs: { default: 0 } },
        required: ['names'],
      },
    });
  });

  it('lists them in `jobs types`', async () => {
    const r = await runCli(['types'], { env: { XDG_CONFIG_HOME: configHome }, timeoutMs: 60_000 });
    expect(r.code).toBe(0);
    const row = (type: string) => r.stdout.split('\n').find((l) => l.startsWith(`│ ${type} `));
    expect(row('greet')).toMatch(
      /│ greet +│ Greets each name .*│ none +│ names:string\[\], greeting:string="hello", pauseMs:integer=0 +│/,
    );
    expect(row('count-lines')).toMatch(
      /│ count-lines +│ Counts the lines .*│ required +│ contains:string, show:integer=10 +│/,
    );
  });

  it('runs a job of the type to COMPLETED with its log lines, and validates its params at submit', async () => {
    const bad = await api(server.url, token(), 'POST', '/api/jobs', { type: 'greet', params: { names: [] } });
    expect(bad.status).toBe(400);
    const { status, body } = await api(server.url, token(), 'POST', '/api/jobs', {
      type: 'greet',
      params: { names: ['Ada', 'Grace'], greeting: 'hi' },
    });
    expect(status).toBe(201);
    const job = await waitForJob(server.url, token(), body.id, 60_000);
    expect(job).toMatchObject({ status: 'COMPLETED', result: { greeted: 2 }, attempts: 1, maxAttempts: 1 });
    expect(await logsOf(server.url, token(), body.id)).toEqual(
      expect.arrayContaining(['hi, Ada!', 'hi, Grace!']),
    );
  });

  it('runs a type that reads its input file, through `jobs submit FILE --follow`', async () => {
    const r = await runCli(
      [
        'submit',
        'examples/orders.csv',
        '--type',
        'count-lines',
        '--param',
        'contains=example.org',
        '--param',
        'show=1',
        '--follow',
      ],
      { env: { XDG_CONFIG_HOME: configHome }, timeoutMs: 60_000 },
    );
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('INFO line 9: 10008,zoe.novak@example.org,5,126.43,2024-05-01 18:25,false');
    expect(r.stdout).toContain('INFO 202 lines, 43 containing "example.org"');
    expect(r.stdout.trim().split('\n').at(-1)).toBe('COMPLETED');
  }, 90_000);
});

describe('jobs server refuses a bad JOBS_HANDLERS module at start', () => {
  let dir: string;
  beforeAll(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'jobs-handlers-bad-'));
  });
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  async function serverWith(source: string): Promise<{ code: number | null; stderr: string; file: string }> {
    const file = path.join(dir, `m-${Math.random().toString(36).slice(2)}.mjs`);
    fs.writeFileSync(file, source);
    const r = await runCli(['server', '--port', '0'], {
      env: {
        JOBS_HANDLERS: file,
        JOBS_DATA_DIR: path.join(dir, 'data'),
        XDG_CONFIG_HOME: path.join(dir, 'cfg'),
        JOBS_LOG_LEVEL: 'warn',
      },
      timeoutMs: 60_000,
    });
    return { ...r, file };
  }

  it('exits 1 with one sentence on stderr for a module of an unknown shape', async () => {
    const r = await serverWith('export const greet = { type: "greet" };\n');
    expect(r.code).toBe(1);
    expect(r.stderr).toBe(
      `${r.file}: export default a job handler or an array of them (or export const handlers)\n`,
    );
  }, 90_000);

  it('exits 1 with one sentence on stderr for a type that clashes with a built-in', async () => {
    const greet = path.resolve('examples/handlers/greet.mjs');
    const r = await serverWith(
      `import greet from ${JSON.stringify(greet)};\nexport default { ...greet, type: 'noop' };\n`,
    );
    expect(r.code).toBe(1);
    expect(r.stderr).toBe('two job handlers have type "noop"\n');
  }, 90_000);
});

/** `jobs worker` composes from the same configuration: the types reach it through JOBS_HANDLERS too. */
const withPostgres = process.env.TEST_DATABASE_URL ? describe : describe.skip;

withPostgres('jobs worker with JOBS_HANDLERS', () => {
  let db: { url: string; drop: () => Promise<void> };
  let server: ServerProcess;
  let worker: CliProcess;
  let configHome: string;
  let dataDir: string;
  const token = () => profileToken(configHome);

  beforeAll(async () => {
    db = await createScratchDatabase();
    configHome = fs.mkdtempSync(path.join(os.tmpdir(), 'jobs-handlers-worker-cfg-'));
    dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'jobs-handlers-worker-data-'));
    const env = { DATABASE_URL: db.url, JOBS_DATA_DIR: dataDir, JOBS_HANDLERS: HANDLERS };
    // The API validates submissions with the types; with --no-worker only the worker runs them.
    server = await startServerProcess({ ...env, XDG_CONFIG_HOME: configHome }, ['--no-worker']);
    worker = await startWorkerProcess(env);
  }, 120_000);

  afterAll(async () => {
    await worker?.stop();
    await server?.stop();
    await db?.drop();
    fs.rmSync(configHome, { recursive: true, force: true });
    fs.rmSync(dataDir, { recursive: true, force: true });
  });

  it('runs a job of the type to COMPLETED with its log lines', async () => {
    const { body } = await api(server.url, token(), 'POST', '/api/jobs', {
      type: 'greet',
      params: { names: ['Ada', 'Grace', 'Hedy'] },
    });
    const job = await waitForJob(server.url, token(), body.id, 60_000);
    expect(job).toMatchObject({ status: 'COMPLETED', result: { greeted: 3 } });
    expect(await logsOf(server.url, token(), body.id)).toEqual(
      expect.arrayContaining(['hello, Ada!', 'hello, Grace!', 'hello, Hedy!']),
    );
    worker.child.kill('SIGTERM');
    expect(await worker.exited).toBe(0);
  }, 90_000);
});
