import http from 'node:http';
import fs from 'node:fs';
import net from 'node:net';
import { createHash } from 'node:crypto';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from '@jest/globals';
import { applyHttpLimits, httpLimitsFrom } from '../../server/http-limits.js';
import { loadConfig } from '../../core/config.js';
import { api, filesUnder, startTestServer, type TestServer } from '../helpers/api-server.js';
import { until } from '../helpers/counting.js';

/** The body idle timeout of this suite (30 s by default). */
const IDLE_MS = 1000;
const MAX_CONNECTIONS = 30;

/** A raw connection: what it received, and when the server closed it. */
interface RawConnection {
  socket: net.Socket;
  received(): string;
  closed: Promise<number>;
}

function connect(url: string): Promise<RawConnection> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const socket = net.connect(Number(port), hostname, () => {
      let data = '';
      socket.setEncoding('utf8');
      socket.on('data', (d: string) => (data += d));
      socket.on('error', () => {});
      const closed = new Promise<number>((r) => socket.on('close', () => r(Date.now())));
      resolve({ socket, received: () => data, closed });
    });
    socket.once('error', reject);
  });
}

function write(c: RawConnection, chunk: string | Buffer): Promise<void> {
  return new Promise((resolve, reject) => c.socket.write(chunk, (err) => (err ? reject(err) : resolve())));
}

/** Resolves with `p`, or rejects after `ms` (the connection stayed open). */
async function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      p,
      new Promise<T>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`${what}: still open after ${ms} ms`)), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

const BOUNDARY = 'xx-boundary-xx';

function multipart(file: Buffer): { head: Buffer; tail: Buffer } {
  const head = Buffer.from(
    `--${BOUNDARY}\r\nContent-Disposition: form-data; name="type"\r\n\r\ncsv-import\r\n` +
      `--${BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="big.csv"\r\n` +
      'Content-Type: text/csv\r\n\r\n',
  );
  return { head: Buffer.concat([head, file]), tail: Buffer.from(`\r\n--${BOUNDARY}--\r\n`) };
}

function csv(bytes: number): Buffer {
  const line = 'id,name\n';
  return Buffer.from(line.repeat(Math.ceil(bytes / line.length)).slice(0, bytes));
}

describe('HTTP limits: stalled bodies, connection cap', () => {
  let s: TestServer;
  let alice: string;

  beforeAll(async () => {
    s = await startTestServer('pglite', {
      maxUploadBytes: 4 * 1024 * 1024,
      httpLimits: {
        bodyIdleTimeoutMs: IDLE_MS,
        headersTimeoutMs: 10_000,
        keepAliveTimeoutMs: 1_000,
        maxConnections: MAX_CONNECTIONS,
      },
    });
  });
  afterAll(async () => {
    await s.close();
  });
  beforeEach(async () => {
    await s.reset();
    await s.t.db.prisma.upload.deleteMany();
    alice = await s.token('alice');
  });

  const stored = () => filesUnder(s.blobsDir).filter((f) => !f.endsWith('.upload-secret'));

  it('closes a job upload that stops halfway (408), and keeps nothing of it', async () => {
    const file = csv(1024 * 1024);
    const { head, tail } = multipart(file);
    const c = await connect(s.url);
    await write(
      c,
      `POST /api/jobs HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${alice}\r\n` +
        `Content-Type: multipart/form-data; boundary=${BOUNDARY}\r\n` +
        `Content-Length: ${head.length + tail.length}\r\n\r\n`,
    );
    await write(c, head.subarray(0, head.length / 2));
    const stalled = Date.now();
    // The upload was under way: its temporary file exists.
    await until('the upload to reach the store', stored, (files) => files.length > 0, 10_000);

    const closedAt = await within(c.closed, 15_000, 'the stalled upload');
    expect(closedAt - stalled).toBeGreaterThanOrEqual(IDLE_MS - 100);
    expect(c.received()).toMatch(/^HTTP\/1\.1 408 /);
    expect(c.received()).toContain('"code":"request_timeout"');
    await until('the partial upload to be removed', stored, (files) => files.length === 0, 10_000);
    expect(await s.t.db.prisma.job.count()).toBe(0);
    expect(await s.t.db.prisma.upload.count()).toBe(0);
  });

  it('lets a slow upload take longer than the idle timeout while bytes keep coming', async () => {
    const file = csv(64 * 1024);
    const { head, tail } = multipart(file);
    const body = Buffer.concat([head, tail]);
    const c = await connect(s.url);
    await write(
      c,
      `POST /api/jobs HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${alice}\r\nConnection: close\r\n` +
        `Content-Type: multipart/form-data; boundary=${BOUNDARY}\r\nContent-Length: ${body.length}\r\n\r\n`,
    );
    const started = Date.now();
    const pieces = 12;
    for (let i = 0; i < pieces; i++) {
      await write(c, body.subarray((i * body.length) / pieces, ((i + 1) * body.length) / pieces));
      await new Promise((r) => setTimeout(r, IDLE_MS / 5));
    }
    await within(c.closed, 15_000, 'the finished upload');
    expect(Date.now() - started).toBeGreaterThan(IDLE_MS * 2); // longer than the idle timeout
    expect(c.received()).toMatch(/^HTTP\/1\.1 201 /);
  });

  it('removes the partial part of a direct upload whose PUT stops halfway', async () => {
    const data = csv(512 * 1024);
    const begun = await api(s.url, alice, 'POST', '/api/uploads', {
      fileName: 'big.csv',
      size: data.length,
      sha256: createHash('sha256').update(data).digest('hex'),
    });
    expect(begun.status).toBe(201);
    const url = new URL(begun.body.parts[0].url);
    const c = await connect(s.url);
    await write(
      c,
      `PUT ${url.pathname}${url.search} HTTP/1.1\r\nHost: x\r\nContent-Length: ${data.length}\r\n\r\n`,
    );
    await write(c, data.subarray(0, data.length / 2));
    const stalled = Date.now();
    // In place: the upload's file holds the part's bytes as they arrive.
    const storedBytes = () => stored().reduce((n, f) => n + fs.statSync(f).size, 0);
    await until('the part to reach the store', storedBytes, (n) => n > 0, 10_000);

    const closedAt = await within(c.closed, 15_000, 'the stalled part');
    expect(closedAt - stalled).toBeGreaterThanOrEqual(IDLE_MS - 100);
    expect(c.received()).toMatch(/^HTTP\/1\.1 408 /);
    await until('the partial part to be removed', storedBytes, (n) => n === 0, 10_000);
    // The upload itself stays open for the client to send the part again. The file is cut back
    // (size 0 above) a moment before the stalled write lets go of the part: until it has, the part
    // answers 409 "being uploaded already", which a client retries.
    const put = () => fetch(begun.body.parts[0].url, { method: 'PUT', body: new Blob([data as BlobPart]) });
    const again = await until('the part to be sent again', put, (r) => r.status !== 409);
    expect(again.status).toBe(200);
  });

  it('keeps an idle connection open a second past the keep-alive timeout it advertises', async () => {
    // A client reusing a connection at the advertised limit must not find it closed under it.
    const c = await connect(s.url);
    await write(c, 'GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n');
    await until(
      'the answer',
      () => c.received(),
      (r) => r.includes('\r\n\r\n'),
      10_000,
    );
    const answered = Date.now();
    expect(c.received()).toMatch(/^HTTP\/1\.1 200 /);
    expect(c.received()).toMatch(/\r\nKeep-Alive: timeout=1\r\n/i);
    const closedAt = await within(c.closed, 15_000, 'the idle connection');
    // Timers never fire early: the server held it at least 1 s (advertised) + 1 s (buffer).
    expect(closedAt - answered).toBeGreaterThanOrEqual(1_900);
  });

  it(`holds at most ${MAX_CONNECTIONS} connections`, async () => {
    const conns: RawConnection[] = [];
    let refused = 0;
    try {
      for (let i = 0; i < MAX_CONNECTIONS + 5; i++) {
        const c = await connect(s.url);
        conns.push(c);
        void c.closed.then(() => refused++);
      }
      await until(
        'connections past the cap to be refused',
        () => refused,
        (n) => n >= 5,
        10_000,
      );
      const open = conns.filter((c) => !c.socket.destroyed && c.socket.readyState === 'open');
      expect(open.length).toBeLessThanOrEqual(MAX_CONNECTIONS);
    } finally {
      for (const c of conns) c.socket.destroy();
    }
    const health = () =>
      fetch(`${s.url}/healthz`).then(
        (r) => r.status,
        () => 0, // refused while the server still counted the closed connections
      );
    await until('the server to take requests again', health, (status) => status === 200, 10_000);
  });
});

describe('applyHttpLimits and its configuration', () => {
  it('sets the header and keep-alive timeouts and the connection cap from JOBS_* settings', () => {
    const limits = httpLimitsFrom(
      loadConfig({
        JOBS_BODY_IDLE_TIMEOUT_SECONDS: '12',
        JOBS_HEADERS_TIMEOUT_SECONDS: '7',
        JOBS_KEEP_ALIVE_TIMEOUT_SECONDS: '3',
        JOBS_MAX_CONNECTIONS: '99',
      }),
    );
    expect(limits).toEqual({
      bodyIdleTimeoutMs: 12_000,
      headersTimeoutMs: 7_000,
      keepAliveTimeoutMs: 3_000,
      maxConnections: 99,
    });
    const server = http.createServer();
    applyHttpLimits(server, limits);
    expect([server.headersTimeout, server.maxConnections, server.requestTimeout]).toEqual([7_000, 99, 0]);
    // The socket's keep-alive timer runs a second past the advertised 3 s (see the test above).
    const buffer = (server as { keepAliveTimeoutBuffer?: number }).keepAliveTimeoutBuffer ?? 0;
    expect(server.keepAliveTimeout + buffer).toBe(4_000);
    expect(httpLimitsFrom(loadConfig({}))).toEqual({
      bodyIdleTimeoutMs: 30_000,
      headersTimeoutMs: 20_000,
      keepAliveTimeoutMs: 5_000,
      maxConnections: 1000,
    });
    expect(() => loadConfig({ JOBS_BODY_IDLE_TIMEOUT_SECONDS: '0' })).toThrow(
      /JOBS_BODY_IDLE_TIMEOUT_SECONDS/,
    );
  });
});
