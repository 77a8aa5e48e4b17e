import { createHash } from 'node:crypto';
import http from 'node:http';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from '@jest/globals';
import { dbKinds } from '../helpers/db.js';
import { api, filesUnder, startTestServer, waitForJob, type TestServer } from '../helpers/api-server.js';

const KiB = 1024;
const PART = 256 * KiB;

/** A CSV of about `bytes` bytes. */
function csvOf(bytes: number): Buffer {
  const lines = ['id,name'];
  let n = 8;
  for (let i = 1; n < bytes; i++) {
    const line = `${i},name-${i}`;
    lines.push(line);
    n += line.length + 1;
  }
  return Buffer.from(lines.join('\n') + '\n');
}

const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');

async function putPart(url: string, body: Buffer, headers: Record<string, string> = {}) {
  const res = await fetch(url, { method: 'PUT', body: new Blob([body as BlobPart]), headers });
  return { status: res.status, etag: res.headers.get('etag'), body: await res.text() };
}

describe.each(dbKinds())('direct uploads (directory store) on %s', (kind) => {
  let s: TestServer;
  let alice: string;
  let bob: string;

  beforeAll(async () => {
    s = await startTestServer(kind, { maxUploadBytes: 4 * 1024 * KiB, partSize: PART });
    s.startWorker();
  });
  afterAll(async () => {
    await s.close();
  });
  beforeEach(async () => {
    await s.reset();
    alice = await s.token('alice');
    bob = await s.token('bob');
  });

  const inputs = () => filesUnder(s.blobsDir).filter((f) => !f.endsWith('.upload-secret'));

  async function begin(token: string, data: Buffer, overrides: Record<string, unknown> = {}) {
    return api(s.url, token, 'POST', '/api/uploads', {
      fileName: 'big.csv',
      size: data.length,
      sha256: sha256(data),
      ...overrides,
    });
  }

  async function sendAll(parts: { partNumber: number; url: string }[], data: Buffer, partSize: number) {
    const out = await Promise.all(
      parts.map(async (p) => {
        const r = await putPart(p.url, data.subarray((p.partNumber - 1) * partSize, p.partNumber * partSize));
        expect(r.status).toBe(200);
        return { partNumber: p.partNumber, etag: r.etag! };
      }),
    );
    return out;
  }

  it('runs the whole flow: begin, parts, complete, job, worker', async () => {
    const data = csvOf(700 * KiB);
    const b = await begin(alice, data);
    expect(b.status).toBe(201);
    expect(b.body).toMatchObject({
      uploadId: expect.any(String),
      key: `inputs/${(await s.auth.authenticate(alice)).userId}/${b.body.uploadId}`,
      partSize: PART,
      expiresAt: expect.any(String),
    });
    expect(b.body.parts).toHaveLength(3);
    expect(b.body.parts[0]).toMatchObject({ partNumber: 1, method: 'PUT' });
    expect(b.body.sequential).toBe(true);

    // In parallel, although the store asks for parts in order: accepted, hashed at completion.
    const parts = await sendAll(b.body.parts, data, b.body.partSize);
    expect(parts[0].etag).toMatch(/^"[0-9a-f]{32}"$/);
    const c = await api(s.url, alice, 'POST', `/api/uploads/${b.body.uploadId}/complete`, { parts });
    expect(c.status).toBe(200);
    expect(c.body).toEqual({ uploadId: b.body.uploadId, size: data.length, status: 'COMPLETED' });

    const j = await api(
      s.url,
      alice,
      'POST',
      '/api/jobs',
      { type: 'csv-import', uploadId: b.body.uploadId },
      { 'idempotency-key': 'k1' },
    );
    expect(j.status).toBe(201);
    expect(j.body.input).toEqual({ name: 'big.csv', size: data.length, sha256: sha256(data) });
    const again = await api(
      s.url,
      alice,
      'POST',
      '/api/jobs',
      { type: 'csv-import', uploadId: b.body.uploadId },
      { 'idempotency-key': 'k1' },
    );
    expect(again.status).toBe(200);
    expect(again.body.id).toBe(j.body.id);

    const done = await waitForJob(s.url, alice, j.body.id);
    expect(done.status).toBe('COMPLETED');
    const rows = data.toString().trim().split('\n').length - 1;
    expect(done.result).toMatchObject({ rows, valid: rows, invalid: 0 });
    // The job reads the upload's own blob: no copy, no leftover parts.
    expect(inputs()).toEqual([path.join(s.blobsDir, ...b.body.key.split('/'))]);

    // One job per upload.
    const reuse = await api(s.url, alice, 'POST', '/api/jobs', {
      type: 'csv-import',
      uploadId: b.body.uploadId,
    });
    expect(reuse.status).toBe(409);
  });

  /** PUTs the parts one after the other, in order (as the CLI does when `sequential`). */
  async function sendInOrder(parts: { partNumber: number; url: string }[], data: Buffer, partSize: number) {
    const out = [];
    for (const p of parts) {
      const r = await putPart(p.url, data.subarray((p.partNumber - 1) * partSize, p.partNumber * partSize));
      expect(r.status).toBe(200);
      out.push({ partNumber: p.partNumber, etag: r.etag! });
    }
    return out;
  }

  it('takes the SHA-256 at completion instead of at the start, and checks it', async () => {
    const data = csvOf(700 * KiB);
    const b = await begin(alice, data, { sha256: undefined });
    expect(b.status).toBe(201);
    const parts = await sendInOrder(b.body.parts, data, b.body.partSize);
    const complete = `/api/uploads/${b.body.uploadId}/complete`;
    const bad = await api(s.url, alice, 'POST', complete, { parts, sha256: 'x' });
    expect(bad.status).toBe(400);
    expect(bad.body.error.message).toMatch(/64 hex digits/);

    const c = await api(s.url, alice, 'POST', complete, { parts, sha256: sha256(data).toUpperCase() });
    expect(c.status).toBe(200);
    expect(c.body).toEqual({ uploadId: b.body.uploadId, size: data.length, status: 'COMPLETED' });
    expect((await api(s.url, alice, 'POST', complete, { parts, sha256: sha256(data) })).status).toBe(200);
    const j = await api(s.url, alice, 'POST', '/api/jobs', { type: 'csv-import', uploadId: b.body.uploadId });
    expect(j.status).toBe(201);
    expect(j.body.input).toEqual({ name: 'big.csv', size: data.length, sha256: sha256(data) });
    const done = await waitForJob(s.url, alice, j.body.id);
    expect(done.status).toBe('COMPLETED');
  });

  it('records its own SHA-256 when the client declares none (the bytes are hashed once, by the store)', async () => {
    expect((await begin(alice, csvOf(10 * KiB), { sha256: undefined })).body.sequential).toBe(true);
    for (const inOrder of [true, false]) {
      const data = csvOf(700 * KiB);
      const b = await begin(alice, data, { sha256: undefined });
      // In order, the store hashed the parts as they came; out of order, it hashes at completion.
      const parts = inOrder
        ? await sendInOrder(b.body.parts, data, b.body.partSize)
        : await sendInOrder([...b.body.parts].reverse(), data, b.body.partSize);
      parts.sort((x, y) => x.partNumber - y.partNumber);
      const c = await api(s.url, alice, 'POST', `/api/uploads/${b.body.uploadId}/complete`, { parts });
      expect(c.status).toBe(200);
      const j = await api(s.url, alice, 'POST', '/api/jobs', {
        type: 'csv-import',
        uploadId: b.body.uploadId,
      });
      expect(j.status).toBe(201);
      expect(j.body.input).toEqual({ name: 'big.csv', size: data.length, sha256: sha256(data) });
    }
  });

  it('refuses (400) a SHA-256 at completion that the bytes do not have, keeping nothing', async () => {
    const data = csvOf(300 * KiB);
    const b = await begin(alice, data, { sha256: undefined });
    const parts = await sendInOrder(b.body.parts, data, b.body.partSize);
    const c = await api(s.url, alice, 'POST', `/api/uploads/${b.body.uploadId}/complete`, {
      parts,
      sha256: sha256(Buffer.concat([data, Buffer.from('x')])),
    });
    expect(c.status).toBe(400);
    expect(c.body.error.message).toMatch(/SHA-256/);
    expect(inputs()).toEqual([]);
    expect(await s.t.db.prisma.upload.count()).toBe(0);
  });

  it('refuses (400) a SHA-256 at completion other than the one declared at the start, changing nothing', async () => {
    const data = csvOf(300 * KiB);
    const b = await begin(alice, data);
    const parts = await sendInOrder(b.body.parts, data, b.body.partSize);
    const complete = `/api/uploads/${b.body.uploadId}/complete`;
    const other = await api(s.url, alice, 'POST', complete, { parts, sha256: 'b'.repeat(64) });
    expect(other.status).toBe(400);
    expect(other.body.error.message).toMatch(/differs from the one declared/);
    expect((await api(s.url, alice, 'POST', complete, { parts, sha256: sha256(data) })).status).toBe(200);
  });

  it('keeps nothing of a part whose body was cut short: sent again, it completes the upload', async () => {
    const data = csvOf(600 * KiB);
    const b = await begin(alice, data, { sha256: undefined });
    const [first, ...others] = b.body.parts as { partNumber: number; url: string }[];
    // Part 1 announced whole; once the server takes it (100 Continue), half of it, then the
    // connection drops. Its bytes went into the running hash: that hash must not be used.
    await new Promise<void>((resolve, reject) => {
      const req = http.request(new URL(first.url), {
        method: 'PUT',
        headers: { 'content-length': String(PART), expect: '100-continue' },
      });
      req.on('error', () => {});
      req.on('response', () => reject(new Error('the server answered a part it did not get')));
      req.on('continue', () =>
        req.write(data.subarray(0, PART / 2), () => {
          req.destroy();
          resolve();
        }),
      );
      req.flushHeaders();
    });
    // 409 while the server still receives the cut part, then 200.
    let resent = await putPart(first.url, data.subarray(0, PART));
    while (resent.status === 409) resent = await putPart(first.url, data.subarray(0, PART));
    expect(resent.status).toBe(200);
    const parts = [{ partNumber: 1, etag: resent.etag! }, ...(await sendInOrder(others, data, PART))];
    const c = await api(s.url, alice, 'POST', `/api/uploads/${b.body.uploadId}/complete`, {
      parts,
      sha256: sha256(data),
    });
    expect(c.status).toBe(200);
    const stored = inputs();
    expect(stored).toHaveLength(1);
    expect(sha256(fs.readFileSync(stored[0]))).toBe(sha256(data));
  });

  it('refuses a bad signature or an expired URL (403), without a bearer token either way', async () => {
    const data = csvOf(10 * KiB);
    const b = await begin(alice, data);
    const url = new URL(b.body.parts[0].url);
    const forged = new URL(url);
    forged.searchParams.set('signature', '0'.repeat(64));
    expect((await putPart(forged.toString(), data)).status).toBe(403);
    const later = new URL(url);
    later.searchParams.set('expires', String(Number(url.searchParams.get('expires')) + 10));
    expect((await putPart(later.toString(), data)).status).toBe(403);
    const otherPart = url.toString().replace('/parts/1?', '/parts/2?');
    expect((await putPart(otherPart, data)).status).toBe(403);
    expect((await putPart(url.toString(), data)).status).toBe(200);
  });

  it('refuses an expired URL (403)', async () => {
    const data = csvOf(10 * KiB);
    const b = await begin(alice, data);
    // Re-sign the URL with an expiry in the past, as the server would have signed it.
    const { parts } = await s.blobs.begin('x', {
      uploadId: b.body.uploadId,
      size: data.length,
      partSize: PART,
      expiresAt: new Date(Date.now() - 60_000),
      apiBaseUrl: s.url,
    });
    const res = await putPart(parts[0].url, data);
    expect(res.status).toBe(403);
    expect(res.body).toMatch(/expired/);
  });

  it('answers 413 to a part larger than its share, before the body (Expect: 100-continue)', async () => {
    const data = csvOf(300 * KiB);
    const b = await begin(alice, data);
    expect(b.body.parts).toHaveLength(2);
    // Part 1 may hold PART bytes.
    expect((await putPart(b.body.parts[0].url, data.subarray(0, PART + 1))).status).toBe(413);
    // With Expect: 100-continue the refusal comes without the body being sent.
    const u = new URL(b.body.parts[0].url);
    const status = await new Promise<number>((resolve, reject) => {
      const req = http.request(u, {
        method: 'PUT',
        headers: { 'content-length': String(10 * 1024 * KiB), expect: '100-continue' },
      });
      req.on('continue', () => reject(new Error('the server asked for the body')));
      req.on('response', (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
        req.destroy();
      });
      req.on('error', () => {});
      req.flushHeaders();
    });
    expect(status).toBe(413);
    expect(inputs().filter((f) => !f.includes('.uploads'))).toEqual([]);
  });

  it('refuses completion (400) when the bytes are not the declared size, leaving nothing', async () => {
    const data = csvOf(300 * KiB);
    const b = await begin(alice, data);
    const parts = await sendAll(b.body.parts, data.subarray(0, data.length - 10), b.body.partSize);
    const c = await api(s.url, alice, 'POST', `/api/uploads/${b.body.uploadId}/complete`, { parts });
    expect(c.status).toBe(400);
    expect(c.body.error.message).toMatch(/declared/);
    expect(inputs()).toEqual([]);
    expect(await s.t.db.prisma.upload.count()).toBe(0);
  });

  it('refuses completion (400) when the SHA-256 differs, leaving nothing', async () => {
    const data = csvOf(300 * KiB);
    const b = await begin(alice, data, { sha256: 'a'.repeat(64) });
    const parts = await sendAll(b.body.parts, data, b.body.partSize);
    const c = await api(s.url, alice, 'POST', `/api/uploads/${b.body.uploadId}/complete`, { parts });
    expect(c.status).toBe(400);
    expect(c.body.error.message).toMatch(/SHA-256/);
    expect(inputs()).toEqual([]);
  });

  it("treats another user's upload as missing (404) at completion and job creation", async () => {
    const data = csvOf(10 * KiB);
    const b = await begin(alice, data);
    const parts = await sendAll(b.body.parts, data, b.body.partSize);
    const complete = `/api/uploads/${b.body.uploadId}/complete`;
    expect((await api(s.url, bob, 'POST', complete, { parts })).status).toBe(404);
    expect((await api(s.url, alice, 'POST', complete, { parts })).status).toBe(200);
    const j = await api(s.url, bob, 'POST', '/api/jobs', { type: 'csv-import', uploadId: b.body.uploadId });
    expect(j.status).toBe(404);
    expect(await s.t.db.prisma.job.count()).toBe(0);
  });

  it('refuses a job on an upload that is not completed yet (409)', async () => {
    const data = csvOf(10 * KiB);
    const b = await begin(alice, data);
    const j = await api(s.url, alice, 'POST', '/api/jobs', { type: 'csv-import', uploadId: b.body.uploadId });
    expect(j.status).toBe(409);
  });

  it('validates the request: 413 over the limit, 400 bad names and shapes, 403 without job:Create', async () => {
    const big = await api(s.url, alice, 'POST', '/api/uploads', {
      fileName: 'a.csv',
      size: 4 * 1024 * KiB + 1,
      sha256: 'a'.repeat(64),
    });
    expect(big.status).toBe(413);
    for (const fileName of ['../x.csv', 'a/b.csv', '']) {
      const r = await api(s.url, alice, 'POST', '/api/uploads', {
        fileName,
        size: 10,
        sha256: 'a'.repeat(64),
      });
      expect(r.status).toBe(400);
    }
    expect(
      (await api(s.url, alice, 'POST', '/api/uploads', { fileName: 'a', size: 0, sha256: 'a'.repeat(64) }))
        .status,
    ).toBe(400);
    expect(
      (await api(s.url, alice, 'POST', '/api/uploads', { fileName: 'a', size: 10, sha256: 'abc' })).status,
    ).toBe(400);
    const reader = await s.token('reader', { permissions: ['job:Read'] });
    expect(
      (await api(s.url, reader, 'POST', '/api/uploads', { fileName: 'a', size: 10, sha256: 'a'.repeat(64) }))
        .status,
    ).toBe(403);
    expect(
      (
        await api(s.url, undefined, 'POST', '/api/uploads', {
          fileName: 'a',
          size: 10,
          sha256: 'a'.repeat(64),
        })
      ).status,
    ).toBe(401);
    expect(await s.t.db.prisma.upload.count()).toBe(0);
  });
});
