import http from 'node:http';
import zlib from 'node:zlib';
import type { Request } from 'express';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from '@jest/globals';
import { loadConfig } from '../../core/config.js';
import { publicBaseUrl } from '../../server/public-url.js';
import { api, startTestServer, type TestServer } from '../helpers/api-server.js';
import { dbKinds } from '../helpers/db.js';
import { openSse } from '../helpers/sse.js';

/** A raw request (fetch will not send some of these headers, such as a foreign Host). */
function raw(
  url: string,
  opts: { method: string; path: string; headers: Record<string, string>; body?: Buffer | string },
): Promise<{ status: number; body: any }> {
  return new Promise((resolve, reject) => {
    const req = http.request(url + opts.path, { method: opts.method, headers: opts.headers }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (text += d));
      res.on('end', () => {
        let body: unknown = text;
        try {
          body = JSON.parse(text);
        } catch {
          /* not JSON */
        }
        resolve({ status: res.statusCode ?? 0, body });
      });
    });
    req.on('error', reject);
    req.end(opts.body);
  });
}

describe.each(dbKinds())('edge inputs answer 400, not 500, on %s', (kind) => {
  let s: TestServer;
  let alice: string;
  let jobId: string;

  beforeAll(async () => {
    s = await startTestServer(kind);
  });
  afterAll(async () => {
    await s.close();
  });
  beforeEach(async () => {
    await s.reset();
    alice = await s.token('alice');
    const created = await api(s.url, alice, 'POST', '/api/jobs', { type: 'noop' });
    expect(created.status).toBe(201);
    jobId = created.body.id;
  });

  it('a log cursor past the largest seq', async () => {
    const res = await api(s.url, alice, 'GET', `/api/jobs/${jobId}/logs?after=2147483648`);
    expect(res.status).toBe(400);
    expect(res.body.error).toMatchObject({
      code: 'validation_failed',
      message: expect.stringMatching(/^after: /),
    });
    // The largest seq itself is fine (and simply has nothing after it).
    const max = await api(s.url, alice, 'GET', `/api/jobs/${jobId}/logs?after=2147483647`);
    expect(max.status).toBe(200);
    expect(max.body.items).toEqual([]);
  });

  it('a Last-Event-ID past the largest seq is refused before the stream starts', async () => {
    const c = await openSse(`${s.url}/api/jobs/${jobId}/logs`, alice, { 'Last-Event-ID': '9999999999' });
    expect(c.status).toBe(400);
    expect(JSON.parse(c.body).error.message).toMatch(/Last-Event-ID must be the seq of a log line/);
    c.close();
  });

  it('a list cursor encoding a negative (or zero) year', async () => {
    for (const ts of [
      '-000001-01-01T00:00:00.000Z',
      '0000-01-01T00:00:00.000Z',
      '+275760-09-13T00:00:00.000Z',
    ]) {
      const cursor = Buffer.from(`${ts}|${jobId}`).toString('base64url');
      const res = await api(s.url, alice, 'GET', `/api/jobs?cursor=${cursor}`);
      expect([ts, res.status, res.body.error?.message]).toEqual([ts, 400, 'invalid cursor']);
    }
    // A real cursor still pages.
    await api(s.url, alice, 'POST', '/api/jobs', { type: 'noop' });
    const first = await api(s.url, alice, 'GET', '/api/jobs?limit=1');
    const next = await api(s.url, alice, 'GET', `/api/jobs?limit=1&cursor=${first.body.nextCursor}`);
    expect(next.status).toBe(200);
    expect(next.body.items).toHaveLength(1);
  });

  it('a body that does not decompress as its Content-Encoding says', async () => {
    for (const [encoding, path] of [
      ['br', '/api/jobs'],
      ['gzip', '/api/jobs'],
      ['deflate', '/api/jobs'],
      ['br', '/api/uploads'],
    ]) {
      const res = await raw(s.url, {
        method: 'POST',
        path,
        headers: {
          authorization: `Bearer ${alice}`,
          'content-type': 'application/json',
          'content-encoding': encoding,
        },
        body: 'this is not compressed at all',
      });
      expect([encoding, path, res.status, res.body.error?.code]).toEqual([
        encoding,
        path,
        400,
        'validation_failed',
      ]);
      expect(res.body.error.message).toMatch(/could not be decompressed/);
    }
    const unknown = await raw(s.url, {
      method: 'POST',
      path: '/api/jobs',
      headers: {
        authorization: `Bearer ${alice}`,
        'content-type': 'application/json',
        'content-encoding': 'xz',
      },
      body: '{}',
    });
    expect([unknown.status, unknown.body.error?.code]).toEqual([415, 'unsupported_media_type']);
    // A body that is what it says still works.
    const good = await raw(s.url, {
      method: 'POST',
      path: '/api/jobs',
      headers: {
        authorization: `Bearer ${alice}`,
        'content-type': 'application/json',
        'content-encoding': 'br',
      },
      body: zlib.brotliCompressSync(JSON.stringify({ type: 'noop' })),
    });
    expect(good.status).toBe(201);
  });

  it("builds part URLs from the server's own address, never the client's Host header", async () => {
    const body = JSON.stringify({ fileName: 'a.csv', size: 10, sha256: 'a'.repeat(64) });
    const res = await raw(s.url, {
      method: 'POST',
      path: '/api/uploads',
      headers: {
        host: 'evil.example:666',
        authorization: `Bearer ${alice}`,
        'content-type': 'application/json',
        'content-length': String(Buffer.byteLength(body)),
      },
      body,
    });
    expect(res.status).toBe(201);
    for (const part of res.body.parts) expect(part.url.startsWith(`${s.url}/api/uploads/`)).toBe(true);
    expect(JSON.stringify(res.body)).not.toContain('evil.example');
  });
});

describe('the public URL (JOBS_PUBLIC_URL)', () => {
  const req = (localAddress: string, localPort = 8080) =>
    ({ socket: { localAddress, localPort }, headers: { host: 'evil.example' } }) as unknown as Request;

  it('is used as configured, without a trailing slash', () => {
    expect(publicBaseUrl('https://jobs.example.com/', req('10.0.0.5'))).toBe('https://jobs.example.com');
    expect(loadConfig({ JOBS_PUBLIC_URL: 'https://jobs.example.com/' }).publicUrl).toBe(
      'https://jobs.example.com',
    );
    expect(() => loadConfig({ JOBS_PUBLIC_URL: 'jobs.example.com' })).toThrow(/JOBS_PUBLIC_URL/);
    expect(() => loadConfig({ JOBS_PUBLIC_URL: 'https://jobs.example.com/api' })).toThrow(/JOBS_PUBLIC_URL/);
  });

  it('defaults to the address the connection was accepted on (IPv4, IPv6, IPv4-mapped)', () => {
    expect(publicBaseUrl(undefined, req('127.0.0.1', 4000))).toBe('http://127.0.0.1:4000');
    expect(publicBaseUrl(undefined, req('::1', 4000))).toBe('http://[::1]:4000');
    expect(publicBaseUrl(undefined, req('::ffff:10.1.2.3', 80))).toBe('http://10.1.2.3:80');
  });
});
