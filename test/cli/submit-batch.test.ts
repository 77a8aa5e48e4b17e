import { afterAll, beforeAll, beforeEach, describe, expect, it } from '@jest/globals';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startTestServer, type TestServer } from '../helpers/api-server.js';
import { runCli, tempConfigHome } from './helpers/run-cli.js';

/**
 * `jobs submit --batch FILE.ndjson` (and `-` for stdin), the real CLI against the real API
 * (createApp over real HTTP on PGlite): per-line results, chunks of 1,000, exit codes.
 */
let s: TestServer;
let token: string;
let configHome: string;
let dir: string;

const jobs = (args: string[], opts: { input?: string; token?: string } = {}) =>
  runCli(args, {
    env: { XDG_CONFIG_HOME: configHome, JOBS_API_URL: s.url, JOBS_TOKEN: opts.token ?? token },
    input: opts.input,
    timeoutMs: 120_000,
  });

/** Writes `lines` (strings as they are, anything else as JSON) to a file in the test's directory. */
function ndjson(name: string, lines: unknown[]): string {
  const file = path.join(dir, name);
  fs.writeFileSync(file, lines.map((l) => (typeof l === 'string' ? l : JSON.stringify(l))).join('\n') + '\n');
  return file;
}

const parseLines = (stdout: string) =>
  stdout
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l));

beforeAll(async () => {
  s = await startTestServer('pglite', { config: { maxActiveJobsPerUser: 0 } });
  configHome = tempConfigHome();
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'jobs-batch-cli-'));
});
afterAll(async () => {
  await s.close();
  fs.rmSync(configHome, { recursive: true, force: true });
  fs.rmSync(dir, { recursive: true, force: true });
});
beforeEach(async () => {
  await s.reset();
  token = await s.token('alice');
});

const jobCount = () => s.t.db.prisma.job.count();

describe('jobs submit --batch', () => {
  it('--json prints one result per line, in order, with its line number; blank lines skipped; exit 0', async () => {
    const file = ndjson('good.ndjson', [
      { type: 'noop' },
      '',
      { type: 'noop', params: { logLines: 2 }, idempotencyKey: 'k1' },
      '  ',
      { type: 'noop', maxAttempts: 5 },
    ]);
    const r = await jobs(['submit', '--batch', file, '--json']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const out = parseLines(r.stdout);
    expect(out.map((o) => [o.line, o.status, o.job.type, o.job.params.logLines, o.job.maxAttempts])).toEqual([
      [1, 201, 'noop', 0, 3],
      [3, 201, 'noop', 2, 3],
      [5, 201, 'noop', 0, 5],
    ]);
    expect(await jobCount()).toBe(3);
    const row = await s.t.db.prisma.job.findUniqueOrThrow({ where: { id: out[1].job.id } });
    expect(row.idempotencyKey).toBe('k1');

    // The same file again: every line answered by its earlier job where it had a key.
    const again = await jobs(['submit', '--batch', file, '--json']);
    expect(again.code).toBe(0);
    expect(parseLines(again.stdout).map((o) => o.status)).toEqual([201, 200, 201]);
    expect(parseLines(again.stdout)[1].job.id).toBe(out[1].job.id);
  });

  it('reports bad lines by number (locally or from the API), submits the rest, exits 1', async () => {
    const file = ndjson('mixed.ndjson', [
      { type: 'noop' },
      '{"type": "noop",',
      '[1, 2]',
      { type: 'nope' },
      { params: {} },
      { type: 'noop', delay: 'later' },
      { type: 'noop', params: { logLines: 1 } },
    ]);
    const r = await jobs(['submit', '--batch', file, '--json']);
    expect(r.code).toBe(1);
    const out = parseLines(r.stdout);
    expect(out.map((o) => [o.line, o.status ?? null, o.error?.code ?? 'ok'])).toEqual([
      [1, 201, 'ok'],
      [2, null, 'invalid_line'],
      [3, null, 'invalid_line'],
      [4, 400, 'unknown_job_type'],
      [5, 400, 'validation_failed'],
      [6, 400, 'validation_failed'],
      [7, 201, 'ok'],
    ]);
    expect(out[1].error.message).toMatch(/^line 2 is not valid JSON: /);
    expect(out[2].error.message).toBe('line 3 is not a JSON object like {"type":"noop","params":{}}');
    expect(out[3].error.message).toMatch(/^unknown job type "nope"; valid types: /);
    expect(out[4].error.message).toBe('type: type is required');
    expect(out[5].error.message).toMatch(/^delay must be a whole number and a unit/);
    expect(await jobCount()).toBe(2);

    // For people (stdout not a terminal): tab-separated rows, and a summary on stderr.
    const human = await jobs(['submit', '--batch', file]);
    expect(human.code).toBe(1);
    const rows = human.stdout
      .trim()
      .split('\n')
      .map((l) => l.split('\t'));
    expect(rows.map((x) => [x[0], x[2]])).toEqual([
      ['1', 'created'],
      ['2', 'invalid_line'],
      ['3', 'invalid_line'],
      ['4', 'unknown_job_type'],
      ['5', 'validation_failed'],
      ['6', 'validation_failed'],
      ['7', 'created'],
    ]);
    expect(rows[0][1]).toMatch(/^[0-9a-f-]{36}$/);
    expect(rows[0][3]).toBe('noop');
    expect(rows[1][1]).toBe('-');
    expect(human.stderr.trim()).toBe('7 lines: 2 created, 0 already there (same idempotencyKey), 5 failed.');
  });

  it('reads stdin with -; --type and --max-attempts fill in lines that have none', async () => {
    const input = ['{"params":{"logLines":1}}', '{"type":"nope"}', '{"params":{},"maxAttempts":2}'].join(
      '\n',
    );
    const r = await jobs(['submit', '--batch', '-', '--type', 'noop', '--max-attempts', '4', '--json'], {
      input,
    });
    expect(r.code).toBe(1);
    const out = parseLines(r.stdout);
    expect(out.map((o) => [o.line, o.status, o.job?.maxAttempts ?? o.error.code])).toEqual([
      [1, 201, 4],
      [2, 400, 'unknown_job_type'],
      [3, 201, 2],
    ]);
  });

  it('sends 1,000 lines per request and streams results chunk by chunk', async () => {
    const lines = Array.from({ length: 2500 }, (_, i) => ({ type: 'noop', idempotencyKey: `n${i}` }));
    const r = await jobs(['submit', '--batch', ndjson('many.ndjson', lines), '--json']);
    expect(r.code).toBe(0);
    const out = parseLines(r.stdout);
    expect(out).toHaveLength(2500);
    expect(out.every((o, i) => o.line === i + 1 && o.status === 201)).toBe(true);
    expect(await jobCount()).toBe(2500);
    // Three transactions' worth: the jobs of a request share their creation instant.
    const instants = await s.t.db.prisma.job.groupBy({ by: ['createdAt'], _count: true });
    expect(instants.map((g) => g._count).sort((a, b) => a - b)).toEqual([500, 1000, 1000]);
  });

  it('an empty input submits nothing and says so (exit 0)', async () => {
    const r = await jobs(['submit', '--batch', '-'], { input: '\n\n' });
    expect(r.code).toBe(0);
    expect(r.stdout).toBe('');
    expect(r.stderr.trim()).toBe('No jobs: the input has no lines.');
  });

  it.each([
    [['--batch', 'x.ndjson', 'orders.csv'], /--batch reads its jobs from FILE.ndjson: give no other FILE/],
    [['--batch', 'x.ndjson', '--param', 'a=1'], /--param=a=1 cannot also be provided when using --batch/],
    [['--batch', 'x.ndjson', '--wait'], /--wait(=true)? cannot also be provided when using --batch/],
    [['--batch', 'no/such.ndjson'], /file not found: no\/such.ndjson/],
    [[], /Missing required flag type \(or --batch FILE.ndjson\)/],
  ])('usage error %j: exit 2, nothing sent', async (args, message) => {
    const r = await jobs(['submit', ...args]);
    expect(r.code).toBe(2);
    expect(r.stderr.trim()).toMatch(message);
    expect(await jobCount()).toBe(0);
  });

  it('stops at a request refused whole (403) with the API sentence, exit 1', async () => {
    const reader = await s.token('reader', { permissions: ['job:Read'] });
    const r = await jobs(['submit', '--batch', ndjson('one.ndjson', [{ type: 'noop' }])], { token: reader });
    expect(r.code).toBe(1);
    expect(r.stderr.trim()).toMatch(/job:Create/);
    const j = await jobs(['submit', '--batch', ndjson('one.ndjson', [{ type: 'noop' }]), '--json'], {
      token: reader,
    });
    expect(JSON.parse(j.stdout).error.code).toBe('forbidden');
    expect(await jobCount()).toBe(0);
  });
});
