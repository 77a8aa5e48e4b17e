import { afterAll, beforeAll, beforeEach, describe, expect, it } from '@jest/globals';
import { ApiClient } from '../../cli/lib/api-client.js';
import type { LogLine } from '../../cli/lib/api-types.js';
import { NetworkError } from '../../cli/lib/errors.js';
import { followJob, PollingTransport, readLogs } from '../../cli/lib/follow.js';
import { deadUrl, FakeApi, logLine, makeJob, sendJson } from './helpers/fake-api.js';

const api = new FakeApi();
let client: ApiClient;

beforeAll(async () => {
  await api.start();
  client = new ApiClient({ apiUrl: api.url, token: 't' });
});
afterAll(() => api.close());
beforeEach(() => api.reset());

/**
 * A log endpoint that misbehaves the way a real one may: pages of `pageSize`, each page starting
 * one line *before* the cursor (overlap), lines appearing over time, out of order within a page.
 */
function serveGrowingLog(jobId: string, opts: { total: number; perPoll: number; pageSize: number }) {
  let written = 0;
  let polls = 0;
  api.on('GET', `/api/jobs/${jobId}`, (_req, res) => {
    polls++;
    written = Math.min(opts.total, written + opts.perPoll);
    const done = written === opts.total && polls > 2;
    sendJson(res, 200, makeJob({ id: jobId, status: done ? 'COMPLETED' : 'RUNNING' }));
  });
  api.on('GET', `/api/jobs/${jobId}/logs`, (req, res) => {
    const after = Number(req.query.get('after') ?? 0);
    const from = Math.max(1, after); // overlap: repeats the line at the cursor
    const items: LogLine[] = [];
    for (let s = from; s <= written && items.length < opts.pageSize; s++) items.push(logLine(s));
    const last = items.at(-1)?.seq ?? after;
    sendJson(res, 200, { items: items.reverse(), nextAfter: last < written ? last : null });
  });
}

describe('followJob', () => {
  it('delivers every line exactly once, in order, until the job ends', async () => {
    const id = 'job-follow';
    serveGrowingLog(id, { total: 37, perPoll: 7, pageSize: 4 });
    const seen: number[] = [];
    const job = await followJob(client, id, {
      onLine: (l) => seen.push(l.seq),
      transport: new PollingTransport(client, 5),
    });
    expect(job.status).toBe('COMPLETED');
    expect(seen).toEqual(Array.from({ length: 37 }, (_, i) => i + 1));
  });

  it('starts after --since', async () => {
    const id = 'job-since';
    serveGrowingLog(id, { total: 10, perPoll: 10, pageSize: 3 });
    const seen: number[] = [];
    await followJob(client, id, {
      after: 6,
      onLine: (l) => seen.push(l.seq),
      transport: new PollingTransport(client, 5),
    });
    expect(seen).toEqual([7, 8, 9, 10]);
  });

  it('reads the job before draining, so lines written just before the end are not lost', async () => {
    const id = 'job-race';
    // The job is already terminal on the first read and its lines are all there.
    api.json('GET', `/api/jobs/${id}`, 200, makeJob({ id, status: 'FAILED', error: 'boom' }));
    api.on('GET', `/api/jobs/${id}/logs`, (req, res) => {
      const after = Number(req.query.get('after'));
      sendJson(
        res,
        200,
        after < 2
          ? { items: [logLine(1), logLine(2)].filter((l) => l.seq > after), nextAfter: null }
          : { items: [], nextAfter: null },
      );
    });
    const seen: number[] = [];
    const job = await followJob(client, id, { onLine: (l) => seen.push(l.seq) });
    expect(job.status).toBe('FAILED');
    expect(seen).toEqual([1, 2]);
  });

  it('rides out a short network failure but gives up on an API error', async () => {
    const id = 'job-flaky';
    let calls = 0;
    api.on('GET', `/api/jobs/${id}`, (_req, res) => {
      calls++;
      if (calls === 2) {
        res.socket?.destroy(); // a dropped connection
        return;
      }
      sendJson(res, 200, makeJob({ id, status: calls >= 3 ? 'COMPLETED' : 'RUNNING' }));
    });
    api.json('GET', `/api/jobs/${id}/logs`, 200, { items: [], nextAfter: null });
    const job = await followJob(client, id, { onLine: () => {}, transport: new PollingTransport(client, 5) });
    expect(job.status).toBe('COMPLETED');

    await expect(followJob(client, 'missing', { onLine: () => {} })).rejects.toMatchObject({ status: 404 });
  });
});

describe('readLogs', () => {
  it('pages until nextAfter is null', async () => {
    const id = 'job-pages';
    serveGrowingLog(id, { total: 11, perPoll: 11, pageSize: 3 });
    // serveGrowingLog only "writes" lines when the job is read.
    await client.getJob(id);
    const lines = await readLogs(client, id, 0, 3);
    expect(lines.map((l) => l.seq)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]);
    const logCalls = api.requests.filter((r) => r.path.endsWith('/logs'));
    expect(logCalls.length).toBeGreaterThan(3);
    expect(logCalls.every((r) => r.query.get('limit') === '3')).toBe(true);
  });
});

describe('ApiClient errors', () => {
  it('turns a refused connection into a NetworkError sentence', async () => {
    const url = await deadUrl();
    const dead = new ApiClient({ apiUrl: url, token: 't' });
    const err = await dead.getJob('x').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(NetworkError);
    expect((err as Error).message).toBe(`cannot reach the jobs API at ${url}: connection refused`);
  });

  it("carries the API's status, code and message", async () => {
    api.on('GET', '/api/jobs/nope', (_req, res) =>
      sendJson(res, 404, {
        error: { code: 'not_found', message: 'job nope not found', details: { id: 'nope' } },
      }),
    );
    await expect(client.getJob('nope')).rejects.toMatchObject({
      status: 404,
      code: 'not_found',
      message: 'job nope not found',
      details: { id: 'nope' },
    });
  });

  it('describes an error answer that is not the API shape', async () => {
    api.on('GET', '/api/jobs/proxy', (_req, res) => {
      res.writeHead(502, { 'content-type': 'text/html' });
      res.end('<html>bad gateway</html>');
    });
    await expect(client.getJob('proxy')).rejects.toMatchObject({
      status: 502,
      code: 'http_502',
      message: `the jobs API at ${api.url} answered HTTP 502 Bad Gateway`,
    });
  });

  it('sends the bearer token', async () => {
    api.json('GET', '/api/me', 200, { userId: 'u', name: 'n', role: 'user', permissions: [] });
    await client.me();
    expect(api.requests.at(-1)?.headers.authorization).toBe('Bearer t');
  });
});
