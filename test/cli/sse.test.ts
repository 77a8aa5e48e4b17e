import { afterAll, beforeAll, beforeEach, describe, expect, it } from '@jest/globals';
import type http from 'node:http';
import { ApiClient } from '../../cli/lib/api-client.js';
import { NetworkError } from '../../cli/lib/errors.js';
import { followJob, SseTransport } from '../../cli/lib/follow.js';
import { SseParser, type SseEvent } from '../../cli/lib/sse.js';
import { FakeApi, logLine, makeJob, sendJson } from './helpers/fake-api.js';

describe('SseParser', () => {
  const stream =
    'retry: 1000\r\n\r\n: ping\n\nevent: log\nid: 7\ndata: {"seq":7}\n\n' +
    'data: one\r\ndata: two\r\n\r\nevent: end\rdata: {}\r\rdata:no-space\n\nid: 9\n\n';

  it('parses events, ids, multi-line data and comments, however the text is split', () => {
    const expected: SseEvent[] = [
      { event: 'log', data: '{"seq":7}', id: '7' },
      { event: 'message', data: 'one\ntwo' },
      { event: 'end', data: '{}' },
      { event: 'message', data: 'no-space' },
    ];
    for (const size of [1, 2, 3, 5, 8, 13, stream.length]) {
      const got: SseEvent[] = [];
      const retries: number[] = [];
      const p = new SseParser(
        (e) => got.push(e),
        (ms) => retries.push(ms),
      );
      for (let i = 0; i < stream.length; i += size) p.push(stream.slice(i, i + size));
      expect(got).toEqual(expected);
      expect(retries).toEqual([1000]);
    }
  });
});

describe('SseTransport', () => {
  const api = new FakeApi();
  let client: ApiClient;
  beforeAll(async () => {
    await api.start();
    client = new ApiClient({ apiUrl: api.url, token: 't' });
  });
  afterAll(() => api.close());
  beforeEach(() => api.reset());

  const event = (res: http.ServerResponse, name: string, data: unknown, id?: number) =>
    res.write(`event: ${name}\n${id === undefined ? '' : `id: ${id}\n`}data: ${JSON.stringify(data)}\n\n`);
  const startStream = (res: http.ServerResponse) =>
    res.writeHead(200, { 'content-type': 'text/event-stream' }).write(': hello\n\n');

  it('reconnects with Last-Event-ID after a cut and a stream closed without end; no line twice', async () => {
    const id = 'job-sse';
    const seenHeaders: (string | undefined)[] = [];
    let n = 0;
    api.on('GET', `/api/jobs/${id}/logs`, (req, res) => {
      seenHeaders.push(req.headers['last-event-id'] as string | undefined);
      n++;
      startStream(res);
      if (n === 1) {
        for (const s of [1, 2, 3]) event(res, 'log', logLine(s), s);
        res.write('event: log\nid: 4\ndata: {"seq":4,'); // cut mid-event
        setTimeout(() => res.socket?.destroy(), 20);
      } else if (n === 2) {
        // Resends line 3 (a server may overlap): delivered once all the same.
        for (const s of [3, 4, 5]) event(res, 'log', logLine(s), s);
        res.end(); // closed without `end`
      } else {
        event(res, 'log', logLine(6), 6);
        event(res, 'job', makeJob({ id, status: 'RUNNING' }));
        event(res, 'end', makeJob({ id, status: 'FAILED' }));
        res.end();
      }
    });
    const seen: number[] = [];
    const states: string[] = [];
    const job = await followJob(client, id, {
      after: 0,
      onLine: (l) => seen.push(l.seq),
      onJob: (j) => states.push(j.status),
      transport: new SseTransport(client, { retryMs: 5 }),
    });
    expect(job.status).toBe('FAILED');
    expect(seen).toEqual([1, 2, 3, 4, 5, 6]);
    expect(states).toEqual(['RUNNING', 'FAILED']);
    expect(seenHeaders).toEqual(['0', '3', '5']);
  });

  it('treats a silent stream as dead, gives up after repeated failures, and reports API errors', async () => {
    api.on('GET', '/api/jobs/quiet/logs', (_req, res) => void startStream(res)); // then nothing
    const err = await followJob(client, 'quiet', {
      onLine: () => {},
      transport: new SseTransport(client, { retryMs: 5, idleMs: 100, maxRetries: 2 }),
    }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(NetworkError);
    expect((err as Error).message).toMatch(/no data for 0.1 s/);
    expect(api.requests.filter((r) => r.path === '/api/jobs/quiet/logs')).toHaveLength(3);

    api.on('GET', '/api/jobs/gone/logs', (_req, res) =>
      sendJson(res, 404, { error: { code: 'not_found', message: 'job gone not found' } }),
    );
    await expect(
      followJob(client, 'gone', { onLine: () => {}, transport: new SseTransport(client) }),
    ).rejects.toMatchObject({ status: 404, code: 'not_found', message: 'job gone not found' });
  });

  it('falls back to polling against a server that answers JSON', async () => {
    const id = 'job-json';
    api.json('GET', `/api/jobs/${id}`, 200, makeJob({ id, status: 'COMPLETED' }));
    api.json('GET', `/api/jobs/${id}/logs`, 200, { items: [logLine(1), logLine(2)], nextAfter: null });
    const seen: number[] = [];
    const job = await followJob(client, id, { onLine: (l) => seen.push(l.seq) });
    expect(job.status).toBe('COMPLETED');
    expect(seen).toEqual([1, 2]);
  });
});
