import { afterAll, beforeAll, beforeEach, describe, expect, it } from '@jest/globals';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { apiError, deadUrl, FakeApi, logLine, makeJob, sendJson } from './helpers/fake-api.js';
import { runCli, tempConfigHome } from './helpers/run-cli.js';

/**
 * The CLI spawned as `node bin/run.js` (build first) against a stand-in API: exit codes, where
 * output goes, the --json shapes and what reaches the API.
 */
const api = new FakeApi();
let configHome: string;
const TOKEN = 'test-token';

const jobs = (args: string[], env: Record<string, string | undefined> = {}) =>
  runCli(args, { env: { XDG_CONFIG_HOME: configHome, JOBS_API_URL: api.url, JOBS_TOKEN: TOKEN, ...env } });

beforeAll(async () => {
  await api.start();
  configHome = tempConfigHome();
});
afterAll(async () => {
  await api.close();
  fs.rmSync(configHome, { recursive: true, force: true });
});
beforeEach(() => api.reset());

const oneLine = (s: string) => {
  expect(s.trim().split('\n')).toHaveLength(1);
  return s.trim();
};

describe('errors and exit codes', () => {
  it("prints the API's message as one sentence on stderr and exits 1", async () => {
    api.on('GET', /^\/api\/jobs\/[^/]+$/, (_req, res) =>
      apiError(res, 404, 'not_found', 'job abc not found'),
    );
    const r = await jobs(['get', 'abc']);
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('');
    expect(oneLine(r.stderr)).toBe('job abc not found');
  });

  it('with --json puts only {"error":{code,message}} on stdout', async () => {
    api.on('GET', /^\/api\/jobs\/[^/]+$/, (_req, res) =>
      apiError(res, 404, 'not_found', 'job abc not found'),
    );
    const r = await jobs(['get', 'abc', '--json']);
    expect(r.code).toBe(1);
    expect(JSON.parse(r.stdout)).toEqual({ error: { code: 'not_found', message: 'job abc not found' } });
    expect(r.stderr).toBe('');
  });

  it('says in one sentence when the API cannot be reached', async () => {
    const url = await deadUrl();
    const r = await jobs(['list'], { JOBS_API_URL: url });
    expect(r.code).toBe(1);
    expect(oneLine(r.stderr)).toBe(`cannot reach the jobs API at ${url}: connection refused`);
    const j = await jobs(['list', '--json'], { JOBS_API_URL: url });
    expect(j.code).toBe(1);
    expect(JSON.parse(j.stdout).error.code).toBe('network_error');
  });

  it('reports a rejected token (401) with the API sentence', async () => {
    api.on('GET', '/api/jobs', (_req, res) =>
      apiError(res, 401, 'unauthorized', 'missing or invalid API token'),
    );
    const r = await jobs(['list'], { JOBS_TOKEN: 'wrong' });
    expect(r.code).toBe(1);
    expect(oneLine(r.stderr)).toBe('missing or invalid API token');
    expect(api.requests[0].headers.authorization).toBe('Bearer wrong');
  });

  it('reports a 403 (list --all as a user)', async () => {
    api.on('GET', '/api/jobs', (req, res) =>
      req.query.get('all') === 'true'
        ? apiError(res, 403, 'forbidden', 'only admins can list every job')
        : sendJson(res, 200, { items: [], nextCursor: null }),
    );
    const r = await jobs(['list', '--all']);
    expect(r.code).toBe(1);
    expect(oneLine(r.stderr)).toBe('only admins can list every job');
  });

  it.each([
    [['submit'], /missing required flag type/i],
    [['get'], /missing required argument ID/i],
    [['list', '--limit', 'abc'], /integer/i],
    [['list', '--nope'], /nonexistent flag: --nope/i],
    [['list', '--status', 'DONE'], /PENDING/],
    [['submit', '--type', 'noop', '--params-json', '{bad'], /--params-json is not valid JSON/],
    [['submit', '--type', 'noop', '--param', 'novalue'], /--param expects key=value, got "novalue"/],
    [['submit', 'no/such/file.csv', '--type', 'csv-import'], /file not found: no\/such\/file.csv/],
  ])('usage error %j exits 2 with one sentence, and as JSON with --json', async (args, message) => {
    const r = await jobs(args);
    expect(r.code).toBe(2);
    expect(r.stdout).toBe('');
    expect(oneLine(r.stderr)).toMatch(message);
    expect(r.stderr).not.toMatch(/\n\s+at /); // no stack

    const j = await jobs([...args, '--json']);
    expect(j.code).toBe(2);
    const body = JSON.parse(j.stdout);
    expect(Object.keys(body)).toEqual(['error']);
    expect(body.error.code).toBe('usage_error');
    expect(body.error.message).toMatch(message);
    expect(j.stderr).toBe('');
    expect(api.requests).toHaveLength(0); // nothing was sent
  });

  it('explains how to configure the CLI when there is no profile and no env', async () => {
    const r = await jobs(['list'], { JOBS_API_URL: undefined, JOBS_TOKEN: undefined });
    expect(r.code).toBe(1);
    expect(oneLine(r.stderr)).toMatch(/jobs login/);
  });

  it('--help works for every command', async () => {
    for (const cmd of [
      ['submit'],
      ['list'],
      ['get'],
      ['logs'],
      ['cancel'],
      ['retry'],
      ['types'],
      ['login'],
      ['tokens', 'create'],
      ['tokens', 'list'],
      ['tokens', 'revoke'],
      ['db', 'migrate'],
    ]) {
      const r = await jobs([...cmd, '--help']);
      expect(r.code).toBe(0);
      expect(r.stdout).toMatch(/USAGE/);
      expect(r.stdout).toMatch(/--json/);
    }
  });
});

describe('submit', () => {
  it('sends {type, params} with --param winning over --params-json and prints only the id', async () => {
    const job = makeJob();
    api.on('POST', '/api/jobs', (_req, res) => sendJson(res, 201, job));
    const r = await jobs([
      'submit',
      '--type',
      'csv-import',
      '--params-json',
      '{"maxErrors":5,"types":{"quantity":"integer"}}',
      '--param',
      'maxErrors=0',
      '--param',
      'delimiter=;',
      '--param',
      'required=["customer_email"]',
      '--idempotency-key',
      'k-1',
    ]);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe(`${job.id}\n`);
    const req = api.requests[0];
    expect(req.headers['content-type']).toBe('application/json');
    expect(req.headers['idempotency-key']).toBe('k-1');
    expect(req.headers.authorization).toBe(`Bearer ${TOKEN}`);
    expect(JSON.parse(req.body!.toString())).toEqual({
      type: 'csv-import',
      params: { maxErrors: 0, types: { quantity: 'integer' }, delimiter: ';', required: ['customer_email'] },
    });
  });

  it('--delay and --run-at go in the request; both at once is a usage error', async () => {
    api.json('POST', '/api/jobs', 201, makeJob());
    expect((await jobs(['submit', '--type', 'noop', '--delay', '10m'])).code).toBe(0);
    expect(JSON.parse(api.requests[0].body!.toString())).toEqual({ type: 'noop', params: {}, delay: '10m' });
    const at = '2026-12-01T09:00:00Z';
    expect((await jobs(['submit', '--type', 'noop', '--run-at', at])).code).toBe(0);
    expect(JSON.parse(api.requests[1].body!.toString())).toMatchObject({ runAt: at });
    const both = await jobs(['submit', '--type', 'noop', '--delay', '1m', '--run-at', at]);
    expect(both.code).toBe(2);
    expect(api.requests).toHaveLength(2);
  });

  it('--priority goes in the request (negative ones as --priority=-5); out of bounds is a usage error', async () => {
    api.json('POST', '/api/jobs', 201, makeJob());
    expect((await jobs(['submit', '--type', 'noop', '--priority', '7'])).code).toBe(0);
    expect(JSON.parse(api.requests[0].body!.toString())).toEqual({ type: 'noop', params: {}, priority: 7 });
    expect((await jobs(['submit', '--type', 'noop', '--priority=-5'])).code).toBe(0);
    expect(JSON.parse(api.requests[1].body!.toString())).toMatchObject({ priority: -5 });
    const high = await jobs(['submit', '--type', 'noop', '--priority', '101']);
    expect(high.code).toBe(2);
    expect(high.stderr).toMatch(/101/);
    expect(api.requests).toHaveLength(2);
  });

  it('--json prints the job', async () => {
    const job = makeJob();
    api.json('POST', '/api/jobs', 201, job);
    const r = await jobs(['submit', '--type', 'noop', '--json']);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual(job);
  });

  it('passes a 400 (unknown type) through as a usage error, exit 2', async () => {
    api.on('POST', '/api/jobs', (_req, res) =>
      apiError(res, 400, 'unknown_job_type', 'unknown job type "nope"; valid types: csv-import, noop'),
    );
    const r = await jobs(['submit', '--type', 'nope']);
    expect(r.code).toBe(2);
    expect(oneLine(r.stderr)).toBe('unknown job type "nope"; valid types: csv-import, noop');
  });

  function serveJobThatEnds(status: string, opts: { lines?: number } = {}) {
    const job = makeJob({ status: 'PENDING' });
    const id = job.id as string;
    let reads = 0;
    api.json('POST', '/api/jobs', 201, job);
    api.on('GET', `/api/jobs/${id}`, (_req, res) => {
      reads++;
      const done = reads >= 3;
      sendJson(res, 200, {
        ...job,
        status: done ? status : 'RUNNING',
        error: done && status === 'FAILED' ? 'too many bad rows' : null,
        result: done && status === 'COMPLETED' ? { rows: 3 } : null,
      });
    });
    api.on('GET', `/api/jobs/${id}/logs`, (req, res) => {
      const after = Number(req.query.get('after'));
      const upTo = Math.min(opts.lines ?? 0, reads * 2);
      const items = [];
      // Overlapping page: always repeats the line at the cursor.
      for (let s = Math.max(1, after); s <= upTo; s++)
        items.push(logLine(s, `step ${s}`, s === 5 ? 'warn' : 'info'));
      sendJson(res, 200, { items, nextAfter: null });
    });
    return id;
  }

  it('--wait prints the id, then the final status; exit 0 when COMPLETED', async () => {
    const id = serveJobThatEnds('COMPLETED');
    const r = await jobs(['submit', '--type', 'noop', '--wait']);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe(`${id}\nCOMPLETED\n`);
    expect(oneLine(r.stderr)).toMatch(new RegExp(`^Job ${id} completed.*rows`));
  });

  it('--wait exits 1 when the job FAILED, with its error on stderr; --json prints the job', async () => {
    const id = serveJobThatEnds('FAILED');
    const r = await jobs(['submit', '--type', 'noop', '--wait']);
    expect(r.code).toBe(1);
    expect(r.stdout).toBe(`${id}\nFAILED\n`);
    expect(r.stderr).toMatch(/too many bad rows/);

    api.reset();
    serveJobThatEnds('CANCELLED');
    const j = await jobs(['submit', '--type', 'noop', '--wait', '--json']);
    expect(j.code).toBe(1);
    expect(JSON.parse(j.stdout).status).toBe('CANCELLED');
  });

  it('--follow streams each log line once as a local time with its offset, LEVEL, message, then the status', async () => {
    const id = serveJobThatEnds('COMPLETED', { lines: 6 });
    const r = await jobs(['submit', '--type', 'noop', '--follow']);
    expect(r.code).toBe(0);
    const out = r.stdout.trim().split('\n');
    expect(out[0]).toBe(id);
    expect(out.at(-1)).toBe('COMPLETED');
    const lines = out.slice(1, -1);
    expect(lines).toHaveLength(6);
    lines.forEach((l, i) =>
      expect(l).toMatch(
        new RegExp(
          `^\\d{4}-\\d\\d-\\d\\d \\d\\d:\\d\\d:\\d\\d\\.\\d{3} [+-]\\d\\d:\\d\\d ${i === 4 ? 'WARN' : 'INFO'} step ${i + 1}$`,
        ),
      ),
    );
  });

  it('--follow --json prints NDJSON: each log line, then the final job', async () => {
    serveJobThatEnds('FAILED', { lines: 4 });
    const r = await jobs(['submit', '--type', 'noop', '--follow', '--json']);
    expect(r.code).toBe(1);
    const records = r.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(records.slice(0, -1).map((l) => l.seq)).toEqual([1, 2, 3, 4]);
    expect(records.at(-1).status).toBe('FAILED');
    expect(r.stderr).toBe('');
  });
});

describe('logs', () => {
  function serveLogs(id: string, total: number, status = 'COMPLETED') {
    api.json('GET', `/api/jobs/${id}`, 200, makeJob({ id, status }));
    api.on('GET', `/api/jobs/${id}/logs`, (req, res) => {
      const after = Number(req.query.get('after'));
      const limit = Math.min(Number(req.query.get('limit') || 100), 4); // small pages
      const items = [];
      for (let s = after + 1; s <= total && items.length < limit; s++) items.push(logLine(s));
      const last = items.at(-1)?.seq ?? after;
      sendJson(res, 200, { items, nextAfter: last < total ? last : null });
    });
  }

  it('pages through every line', async () => {
    serveLogs('j1', 10);
    const r = await jobs(['logs', 'j1']);
    expect(r.code).toBe(0);
    const lines = r.stdout.trim().split('\n');
    expect(lines.map((l) => l.split(' ').slice(4).join(' '))).toEqual(
      Array.from({ length: 10 }, (_, i) => `line ${i + 1}`),
    );
  });

  it('--since SEQ prints lines after SEQ; --json gives an array', async () => {
    serveLogs('j2', 10);
    const r = await jobs(['logs', 'j2', '--since', '7', '--json']);
    expect(r.code).toBe(0);
    const lines = JSON.parse(r.stdout);
    expect(lines.map((l: { seq: number }) => l.seq)).toEqual([8, 9, 10]);
    expect(lines[0]).toEqual(logLine(8));
  });

  it("--follow exits with the job's outcome", async () => {
    serveLogs('j3', 5, 'CANCELLED');
    const r = await jobs(['logs', 'j3', '--follow', '--json']);
    expect(r.code).toBe(1);
    expect(
      r.stdout
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l).seq),
    ).toEqual([1, 2, 3, 4, 5]);

    api.reset();
    serveLogs('j4', 2, 'COMPLETED');
    const ok = await jobs(['logs', 'j4', '--follow']);
    expect(ok.code).toBe(0);
    expect(ok.stdout.trim().split('\n')).toHaveLength(2);
  });
});

describe('list, get, cancel, retry, types', () => {
  it('list prints a table and a hint with the next cursor; --json the page', async () => {
    const items = [
      makeJob({ status: 'RUNNING', progress: { done: 5, total: 10 } }),
      makeJob({ status: 'COMPLETED', finishedAt: new Date().toISOString() }),
    ];
    api.json('GET', '/api/jobs', 200, { items, nextCursor: 'c2' });
    const r = await jobs(['list', '--status', 'running', '--type', 'noop', '--limit', '2']);
    expect(r.code).toBe(0);
    expect(api.requests[0].query.get('status')).toBe('RUNNING');
    expect(api.requests[0].query.get('type')).toBe('noop');
    expect(api.requests[0].query.get('limit')).toBe('2');
    expect(api.requests[0].query.has('all')).toBe(false);
    for (const h of ['id', 'type', 'status', 'progress', 'created', 'finished'])
      expect(r.stdout).toContain(h);
    // Short ids, longer where two of the page would look the same (these two differ only at the end).
    expect(r.stdout).toContain(`│ ${items[0].id as string} │`);
    expect(r.stdout).toContain('5/10 (50%)');
    expect(r.stderr).toMatch(/--cursor c2/);

    const j = await jobs(['list', '--json', '--cursor', 'c2', '--all']);
    expect(JSON.parse(j.stdout)).toEqual({ items, nextCursor: 'c2' });
    expect(api.requests.at(-1)!.query.get('cursor')).toBe('c2');
    expect(api.requests.at(-1)!.query.get('all')).toBe('true');
  });

  it('get prints details; cancel and retry print the job', async () => {
    const job = makeJob({
      status: 'FAILED',
      error: 'bad rows',
      input: { name: 'o.csv', size: 2048, sha256: 'ab' },
      params: { maxErrors: 0 },
    });
    const id = job.id as string;
    api.json('GET', `/api/jobs/${id}`, 200, job);
    api.json('POST', `/api/jobs/${id}/retry`, 200, { ...job, status: 'PENDING' });
    api.on('POST', `/api/jobs/${id}/cancel`, (_req, res) =>
      apiError(res, 409, 'conflict', 'job is FAILED; only PENDING or RUNNING jobs can be cancelled'),
    );
    const g = await jobs(['get', id]);
    expect(g.stdout).toMatch(/^status:\s+FAILED$/m);
    expect(g.stdout).toMatch(/^error:\s+bad rows$/m);
    expect(g.stdout).toMatch(/^input:\s+o\.csv \(2\.0 KB/m);
    expect(g.stdout).toMatch(/^params:\s+\{"maxErrors":0\}$/m);
    const rt = await jobs(['retry', id, '--json']);
    expect(rt.code).toBe(0);
    expect(JSON.parse(rt.stdout).status).toBe('PENDING');
    const c = await jobs(['cancel', id]);
    expect(c.code).toBe(1);
    expect(oneLine(c.stderr)).toMatch(/only PENDING or RUNNING/);
  });

  it('types summarises parameter schemas', async () => {
    const types = [
      {
        type: 'csv-import',
        description: 'Validates a CSV',
        input: 'required',
        params: {
          type: 'object',
          properties: {
            delimiter: { type: 'string', default: ',' },
            maxErrors: { type: 'integer', default: 0 },
            required: { type: 'array', items: { type: 'string' } },
            types: { type: 'object', additionalProperties: { enum: ['string', 'integer'] } },
          },
        },
      },
      {
        type: 'noop',
        description: 'Does nothing',
        input: 'none',
        params: { type: 'object', properties: {} },
      },
    ];
    api.json('GET', '/api/job-types', 200, types);
    const r = await jobs(['types']);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('delimiter:string=","');
    expect(r.stdout).toContain('maxErrors:integer=0');
    expect(r.stdout).toContain('required:string[]');
    expect(r.stdout).toContain('types:{string|integer}');
    expect(r.stdout).toMatch(/noop.*Does nothing.*none/);
    const j = await jobs(['types', '--json']);
    expect(JSON.parse(j.stdout)).toEqual(types);
  });
});

describe('login and profile', () => {
  const me = { userId: 'u1', name: 'alice', role: 'user', permissions: ['job:Create', 'job:Read'] };

  it('does not save a rejected token', async () => {
    const home = tempConfigHome();
    api.on('GET', '/api/me', (_req, res) => apiError(res, 401, 'unauthorized', 'invalid API token'));
    const r = await runCli(['login', '--api-url', api.url, '--token', 'bad'], {
      env: { XDG_CONFIG_HOME: home },
    });
    expect(r.code).toBe(1);
    expect(oneLine(r.stderr)).toMatch(/token was rejected/);
    expect(fs.existsSync(path.join(home, 'jobs', 'config.json'))).toBe(false);
  });

  it('saves the profile (0600) and the CLI then uses it', async () => {
    const home = tempConfigHome();
    api.json('GET', '/api/me', 200, me);
    const r = await runCli(['login', '--api-url', `${api.url}/`, '--token', 'good'], {
      env: { XDG_CONFIG_HOME: home },
    });
    expect(r.code).toBe(0);
    expect(oneLine(r.stdout)).toBe(`Logged in to ${api.url} as alice (user)`);
    const file = path.join(home, 'jobs', 'config.json');
    expect(fs.statSync(file).mode & 0o777).toBe(0o600);
    expect(JSON.parse(fs.readFileSync(file, 'utf8'))).toEqual({
      apiUrl: api.url,
      token: 'good',
      profiles: { [api.url]: { token: 'good' } },
    });

    api.json('GET', '/api/jobs', 200, { items: [], nextCursor: null });
    const l = await runCli(['list', '--json'], { env: { XDG_CONFIG_HOME: home } });
    expect(l.code).toBe(0);
    expect(api.requests.at(-1)!.headers.authorization).toBe('Bearer good');

    // JOBS_API_URL elsewhere: the profile's token is not sent to that other host.
    const other = new FakeApi();
    await other.start();
    try {
      other.json('GET', '/api/jobs', 200, { items: [], nextCursor: null });
      await runCli(['list'], { env: { XDG_CONFIG_HOME: home, JOBS_API_URL: other.url } });
      expect(other.requests[0].headers.authorization).toBeUndefined();
    } finally {
      await other.close();
    }
  });
});

describe('help, typos and completion', () => {
  it('jobs help COMMAND shows its help; an unknown command is a usage error naming the closest one', async () => {
    const help = await runCli(['help', 'submit']);
    expect([help.code, help.stdout]).toEqual([0, expect.stringContaining('USAGE\n  $ jobs submit')]);
    const typo = await runCli(['sumbit', 'orders.csv']);
    expect([typo.code, typo.stderr]).toEqual([
      2,
      '"sumbit" is not a jobs command; did you mean "submit"? (jobs help lists them)\n',
    ]);
    const topic = await runCli(['tokens', 'lst']);
    expect(topic.stderr).toMatch(/did you mean "tokens list"\?/);
    const json = await runCli(['xyzzy', '--json']);
    expect([json.code, JSON.parse(json.stdout).error.code]).toEqual([2, 'usage_error']);
  });

  it('jobs autocomplete prints the set-up for bash and zsh', async () => {
    const r = await runCli(['autocomplete', 'bash'], { env: { XDG_CACHE_HOME: tempConfigHome() } });
    expect([r.code, r.stdout]).toEqual([0, expect.stringContaining('autocomplete script bash')]);
  });
});

describe("the AWS SDK's Node-version warning", () => {
  it('is not printed to users (it is when they ask for it back, on Node < 22)', async () => {
    // doctor builds an S3 client (the SDK's warning comes with the first client), against a closed port.
    const env = {
      JOBS_S3_BUCKET: 'x',
      JOBS_S3_ENDPOINT: 'http://127.0.0.1:9',
      AWS_REGION: 'us-east-1',
      AWS_ACCESS_KEY_ID: 'a',
      AWS_SECRET_ACCESS_KEY: 'b',
      // Not inherited from the test process (test/setup-v8.mjs sets it): bin/run.js's default.
      AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: undefined,
    };
    const quiet = await runCli(['doctor'], { env });
    expect(quiet.stdout).toMatch(/bucket/);
    expect(quiet.stderr).not.toMatch(/NodeVersionSupportWarning/);
    if (Number(process.versions.node.split('.')[0]) < 22) {
      const loud = await runCli(['doctor'], {
        env: { ...env, AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'false' },
      });
      expect(loud.stderr).toMatch(/NodeVersionSupportWarning/);
    }
  });
});

describe('login from stdin, profiles per API URL, whoami', () => {
  const me = { userId: 'u1', name: 'alice', role: 'user', permissions: ['job:Create', 'job:Read'] };

  it('reads the token from stdin when --token is not given (or is -), and refuses an empty one (exit 2)', async () => {
    const home = tempConfigHome();
    api.json('GET', '/api/me', 200, me);
    const piped = await runCli(['login', '--api-url', api.url], {
      env: { XDG_CONFIG_HOME: home },
      input: 'from-stdin\n',
    });
    expect([piped.code, oneLine(piped.stdout)]).toEqual([0, `Logged in to ${api.url} as alice (user)`]);
    expect(api.requests.at(-1)!.headers.authorization).toBe('Bearer from-stdin');
    const dash = await runCli(['login', '--api-url', api.url, '--token', '-'], {
      env: { XDG_CONFIG_HOME: home },
      input: 'dash-token',
    });
    expect(dash.code).toBe(0);
    expect(api.requests.at(-1)!.headers.authorization).toBe('Bearer dash-token');
    const empty = await runCli(['login', '--api-url', api.url], {
      env: { XDG_CONFIG_HOME: home },
      input: '\n',
    });
    expect([empty.code, oneLine(empty.stderr)]).toEqual([2, expect.stringMatching(/^no token given/)]);
  });

  it("keeps one token per API URL: JOBS_API_URL alone picks that URL's, the last login is the current one", async () => {
    const home = tempConfigHome();
    const other = new FakeApi();
    await other.start();
    try {
      api.json('GET', '/api/me', 200, me);
      other.json('GET', '/api/me', 200, { ...me, name: 'bob' });
      const env = { XDG_CONFIG_HOME: home };
      expect((await runCli(['login', '--api-url', api.url, '--token', 'first'], { env })).code).toBe(0);
      expect((await runCli(['login', '--api-url', other.url, '--token', 'second'], { env })).code).toBe(0);

      const current = await runCli(['whoami'], { env });
      expect(current.stdout).toBe(`bob (user) at ${other.url}\npermissions: job:Create, job:Read\n`);
      expect(other.requests.at(-1)!.headers.authorization).toBe('Bearer second');

      const first = await runCli(['whoami', '--json'], { env: { ...env, JOBS_API_URL: api.url } });
      expect(JSON.parse(first.stdout)).toEqual({ apiUrl: api.url, ...me });
      expect(api.requests.at(-1)!.headers.authorization).toBe('Bearer first');
    } finally {
      await other.close();
    }
  });

  it('reads a profile file of the earlier format (one apiUrl and token)', async () => {
    const home = tempConfigHome();
    fs.mkdirSync(path.join(home, 'jobs'), { recursive: true });
    fs.writeFileSync(
      path.join(home, 'jobs', 'config.json'),
      JSON.stringify({ apiUrl: api.url, token: 'old' }),
    );
    api.json('GET', '/api/me', 200, me);
    expect((await runCli(['whoami'], { env: { XDG_CONFIG_HOME: home } })).code).toBe(0);
    expect(api.requests.at(-1)!.headers.authorization).toBe('Bearer old');
  });
});

describe('tokens', () => {
  const created = {
    id: 't1',
    token: 'jobs_secret',
    userId: 'u2',
    role: 'user',
    name: 'ci',
    permissions: ['job:Read'],
    createdAt: '2024-05-01T10:00:00.000Z',
  };

  it('create --json prints exactly {id,token,userId,role}', async () => {
    api.json('POST', '/api/tokens', 201, created);
    const r = await jobs([
      'tokens',
      'create',
      '--user',
      'bob',
      '--name',
      'ci',
      '--permission',
      'job:Read',
      '--json',
    ]);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual({ id: 't1', token: 'jobs_secret', userId: 'u2', role: 'user' });
    expect(JSON.parse(api.requests[0].body!.toString())).toEqual({
      user: 'bob',
      name: 'ci',
      permissions: ['job:Read'],
    });
  });

  it('create prints the token alone on stdout with a warning on stderr', async () => {
    api.json('POST', '/api/tokens', 201, { ...created, role: 'admin' });
    const r = await jobs(['tokens', 'create', '--user', 'root', '--admin']);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe('jobs_secret\n');
    expect(r.stderr).toMatch(/not be shown again/);
    // The server chooses the permissions of an admin token (all of them) unless --permission narrows.
    expect(JSON.parse(api.requests[0].body!.toString())).toEqual({ user: 'root', admin: true });
  });

  it('list and revoke', async () => {
    const summary = {
      id: 't1',
      name: 'ci',
      userId: 'u2',
      userName: 'bob',
      role: 'user',
      permissions: ['job:Read'],
      createdAt: '2024-05-01T10:00:00.000Z',
      lastUsedAt: null,
      revokedAt: null,
    };
    api.json('GET', '/api/tokens', 200, { items: [summary] });
    api.json('DELETE', '/api/tokens/t1', 200, { ...summary, revokedAt: '2024-05-02T10:00:00.000Z' });
    const l = await jobs(['tokens', 'list']);
    expect(l.code).toBe(0);
    expect(l.stdout).toMatch(/t1.*ci.*bob.*user.*job:Read/);
    const r = await jobs(['tokens', 'revoke', 't1']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/Revoked token t1/);
    const j = await jobs(['tokens', 'revoke', 't1', '--json']);
    expect(JSON.parse(j.stdout).revokedAt).toBe('2024-05-02T10:00:00.000Z');
  });
});

describe('db migrate', () => {
  it('migrates an embedded database, then says it is up to date', async () => {
    const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'jobs-migrate-'));
    try {
      // A new embedded database (initdb) first: the default 60 s deadline is too short for it
      // on a loaded 2-core machine.
      const first = await runCli(['db', 'migrate', '--json'], {
        env: { JOBS_DATA_DIR: dataDir, XDG_CONFIG_HOME: configHome },
        timeoutMs: 180_000,
      });
      expect(first.code).toBe(0);
      const applied = JSON.parse(first.stdout).applied;
      expect(applied.length).toBeGreaterThan(0);
      const again = await runCli(['db', 'migrate'], {
        env: { JOBS_DATA_DIR: dataDir, XDG_CONFIG_HOME: configHome },
      });
      expect(again.code).toBe(0);
      expect(again.stdout).toBe('database is up to date\n');
    } finally {
      fs.rmSync(dataDir, { recursive: true, force: true });
    }
  }, 300_000);
});
