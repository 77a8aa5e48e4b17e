import http from 'node:http';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from '@jest/globals';
import { dbKinds } from '../helpers/db.js';
import { createLatch } from '../helpers/latch.js';
import { api, filesUnder, startTestServer, waitForJob, type TestServer } from '../helpers/api-server.js';

const csv = 'id,name\n1,ada\n2,grace\n';

function form(fields: Record<string, string>, file?: { name: string; data: string | Uint8Array }): FormData {
  const f = new FormData();
  for (const [k, v] of Object.entries(fields)) f.append(k, v);
  if (file) f.append('file', new Blob([file.data as BlobPart]), file.name);
  return f;
}

describe.each(dbKinds())('REST API on %s', (kind) => {
  let s: TestServer;
  let admin: string;
  let alice: string;
  let bob: string;
  const latch = createLatch();

  beforeAll(async () => {
    s = await startTestServer(kind, { maxUploadBytes: 64 * 1024, handlers: [latch.handler] });
    s.startWorker();
  });
  afterAll(async () => {
    await s.close();
  });
  beforeEach(async () => {
    await s.reset();
    admin = await s.token('root', { admin: true });
    alice = await s.token('alice');
    bob = await s.token('bob');
  });

  async function jobCount(): Promise<number> {
    return s.t.db.prisma.job.count();
  }

  describe('auth', () => {
    it('answers 401 without a token, with a bad token and with a revoked token', async () => {
      expect((await api(s.url, undefined, 'GET', '/api/jobs')).status).toBe(401);
      const bad = await api(s.url, 'jobs_nope', 'GET', '/api/jobs');
      expect(bad.status).toBe(401);
      expect(bad.body.error).toEqual({ code: 'unauthorized', message: 'invalid or revoked token' });
      const created = await api(s.url, admin, 'POST', '/api/tokens', { user: 'carol' });
      expect(created.status).toBe(201);
      expect(created.body).toMatchObject({
        userId: expect.any(String),
        role: 'user',
        token: expect.stringMatching(/^jobs_/),
      });
      expect((await api(s.url, created.body.token, 'GET', '/api/jobs')).status).toBe(200);
      expect((await api(s.url, admin, 'DELETE', `/api/tokens/${created.body.id}`)).status).toBe(200);
      expect((await api(s.url, created.body.token, 'GET', '/api/jobs')).status).toBe(401);
    });

    it('stores tokens hashed only', async () => {
      const rows = await s.t.db.prisma.apiToken.findMany();
      for (const r of rows) expect(r.tokenHash).toMatch(/^[0-9a-f]{64}$/);
      expect(rows.map((r) => r.tokenHash)).not.toContain(alice);
    });

    it('refuses submit (403) for a token without job:Create, and changes nothing', async () => {
      const reader = await s.token('reader', { permissions: ['job:Read'] });
      const res = await api(
        s.url,
        reader,
        'POST',
        '/api/jobs',
        form({ type: 'csv-import' }, { name: 'a.csv', data: csv }),
      );
      expect(res.status).toBe(403);
      expect(res.body.error.message).toMatch(/job:Create/);
      expect(await jobCount()).toBe(0);
      expect(filesUnder(s.blobsDir)).toEqual([]);
      expect((await api(s.url, reader, 'GET', '/api/jobs')).status).toBe(200);
    });

    it('keeps token management for admins', async () => {
      expect((await api(s.url, alice, 'POST', '/api/tokens', { user: 'x' })).status).toBe(403);
      expect((await api(s.url, alice, 'GET', '/api/tokens')).status).toBe(403);
      expect((await api(s.url, admin, 'GET', '/api/tokens')).body.items.length).toBe(3);
    });
  });

  describe('ownership', () => {
    it("hides a user's job and its logs from another user (404) and shows them to admins", async () => {
      const created = await api(s.url, alice, 'POST', '/api/jobs', { type: 'noop', params: { logLines: 2 } });
      expect(created.status).toBe(201);
      const id = created.body.id;
      await waitForJob(s.url, alice, id);
      for (const p of [`/api/jobs/${id}`, `/api/jobs/${id}/logs`]) {
        const res = await api(s.url, bob, 'GET', p);
        expect(res.status).toBe(404);
        expect(res.body.error.code).toBe('not_found');
        expect((await api(s.url, admin, 'GET', p)).status).toBe(200);
      }
      expect((await api(s.url, bob, 'POST', `/api/jobs/${id}/cancel`)).status).toBe(404);
      expect((await api(s.url, bob, 'GET', '/api/jobs')).body.items).toEqual([]);
      expect((await api(s.url, bob, 'GET', '/api/jobs?all=true')).status).toBe(403);
      const all = await api(s.url, admin, 'GET', '/api/jobs?all=true');
      expect(all.body.items.map((j: { id: string }) => j.id)).toEqual([id]);
      // Without all=true an admin sees their own jobs, like everyone else.
      expect((await api(s.url, admin, 'GET', '/api/jobs')).body.items).toEqual([]);
    });
  });

  describe('listing', () => {
    it('pages newest first with a cursor and filters by status and type', async () => {
      const ids: string[] = [];
      for (let i = 0; i < 5; i++)
        ids.push(
          (await api(s.url, alice, 'POST', '/api/jobs', { type: 'noop', params: { fail: i === 0 } })).body.id,
        );
      for (const id of ids) await waitForJob(s.url, alice, id);
      const seen: string[] = [];
      let cursor: string | null = null;
      do {
        const q: string = cursor ? `&cursor=${cursor}` : '';
        const page: { body: { items: { id: string }[]; nextCursor: string | null } } = await api(
          s.url,
          alice,
          'GET',
          `/api/jobs?limit=2${q}`,
        );
        expect(page.body.items.length).toBeLessThanOrEqual(2);
        seen.push(...page.body.items.map((j) => j.id));
        cursor = page.body.nextCursor;
      } while (cursor);
      expect(seen).toEqual([...ids].reverse());
      const failed = await api(s.url, alice, 'GET', '/api/jobs?status=FAILED');
      expect(failed.body.items.map((j: { id: string }) => j.id)).toEqual([ids[0]]);
      expect((await api(s.url, alice, 'GET', '/api/jobs?type=csv-import')).body.items).toEqual([]);
      expect((await api(s.url, alice, 'GET', '/api/jobs?status=DONE')).status).toBe(400);
      expect((await api(s.url, alice, 'GET', '/api/jobs?limit=0')).status).toBe(400);
      expect((await api(s.url, alice, 'GET', '/api/jobs?cursor=garbage')).status).toBe(400);
    });

    it('pages logs with after and nextAfter', async () => {
      const { body } = await api(s.url, alice, 'POST', '/api/jobs', {
        type: 'noop',
        params: { logLines: 25 },
      });
      await waitForJob(s.url, alice, body.id);
      const first = await api(s.url, alice, 'GET', `/api/jobs/${body.id}/logs?limit=10`);
      expect(first.body.items.map((l: { seq: number }) => l.seq)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
      expect(first.body.nextAfter).toBe(10);
      const rest = await api(s.url, alice, 'GET', `/api/jobs/${body.id}/logs?after=10&limit=1000`);
      expect(rest.body.nextAfter).toBeNull();
      expect(rest.body.items[0]).toEqual({
        seq: 11,
        ts: expect.any(String),
        level: 'info',
        message: expect.any(String),
        data: null,
      });
    });
  });

  describe('bad input changes nothing', () => {
    it('rejects an unknown type with 400 naming the valid types', async () => {
      const res = await api(s.url, alice, 'POST', '/api/jobs', { type: 'csv-export' });
      expect(res.status).toBe(400);
      expect(res.body.error.code).toBe('unknown_job_type');
      expect(res.body.error.message).toMatch(/csv-import/);
      expect(res.body.error.message).toMatch(/noop/);
      const multipart = await api(
        s.url,
        alice,
        'POST',
        '/api/jobs',
        form({ type: 'nope' }, { name: 'a.csv', data: csv }),
      );
      expect(multipart.status).toBe(400);
      expect(await jobCount()).toBe(0);
      expect(filesUnder(s.blobsDir)).toEqual([]);
    });

    it('rejects params failing the schema with 400 naming the field', async () => {
      const res = await api(s.url, alice, 'POST', '/api/jobs', { type: 'noop', params: { sleepMs: 'soon' } });
      expect(res.status).toBe(400);
      expect(res.body.error.code).toBe('validation_failed');
      expect(res.body.error.message).toMatch(/params\.sleepMs/);
      const csvRes = await api(
        s.url,
        alice,
        'POST',
        '/api/jobs',
        form({ type: 'csv-import', params: JSON.stringify({ maxErrors: -1 }) }, { name: 'a.csv', data: csv }),
      );
      expect(csvRes.status).toBe(400);
      expect(csvRes.body.error.message).toMatch(/params\.maxErrors/);
      expect(await jobCount()).toBe(0);
      expect(filesUnder(s.blobsDir)).toEqual([]);
    });

    it('rejects malformed JSON, non-JSON params and unsupported media types', async () => {
      const bad = await api(s.url, alice, 'POST', '/api/jobs', '{"type": "noop",');
      expect(bad.status).toBe(400);
      expect(bad.body.error.message).toMatch(/malformed JSON/);
      const badParams = await api(
        s.url,
        alice,
        'POST',
        '/api/jobs',
        form({ type: 'csv-import', params: '{nope' }, { name: 'a.csv', data: csv }),
      );
      expect(badParams.status).toBe(400);
      expect(badParams.body.error.message).toMatch(/params/);
      const text = await api(s.url, alice, 'POST', '/api/jobs', 'type=noop', {
        'content-type': 'text/plain',
      });
      expect(text.status).toBe(415);
      const arr = await api(s.url, alice, 'POST', '/api/jobs', { type: 'noop', params: [1] });
      expect(arr.status).toBe(400);
      expect(await jobCount()).toBe(0);
    });

    it('rejects an empty file, a missing file and a file for a type that takes none', async () => {
      const empty = await api(
        s.url,
        alice,
        'POST',
        '/api/jobs',
        form({ type: 'csv-import' }, { name: 'a.csv', data: '' }),
      );
      expect(empty.status).toBe(400);
      expect(empty.body.error.message).toMatch(/empty/);
      const missing = await api(s.url, alice, 'POST', '/api/jobs', { type: 'csv-import' });
      expect(missing.status).toBe(400);
      expect(missing.body.error.message).toMatch(/needs an input file/);
      expect(await jobCount()).toBe(0);
      expect(filesUnder(s.blobsDir)).toEqual([]);
    });

    it('rejects a file over the upload limit with 413 and leaves no row or file', async () => {
      const big = new Uint8Array(200 * 1024).fill(0x61);
      const res = await api(
        s.url,
        alice,
        'POST',
        '/api/jobs',
        form({ type: 'csv-import' }, { name: 'big.csv', data: big }),
      );
      expect(res.status).toBe(413);
      expect(res.body.error.code).toBe('payload_too_large');
      expect(await jobCount()).toBe(0);
      expect(filesUnder(s.blobsDir)).toEqual([]);
    });

    it('answers Expect: 100-continue uploads before the body is sent when they are refused', async () => {
      const ask = (token: string, contentLength: number) =>
        new Promise<{ status: number; continued: boolean; body: any }>((resolve, reject) => {
          let continued = false;
          const req = http.request(`${s.url}/api/jobs`, {
            method: 'POST',
            headers: {
              authorization: `Bearer ${token}`,
              'content-type': 'multipart/form-data; boundary=x',
              'content-length': String(contentLength),
              expect: '100-continue',
            },
          });
          req.on('continue', () => {
            continued = true;
            req.destroy();
            resolve({ status: 100, continued, body: null });
          });
          req.on('response', (res) => {
            let text = '';
            res.on('data', (d) => (text += d));
            res.on('end', () => {
              req.destroy();
              resolve({ status: res.statusCode!, continued, body: JSON.parse(text) });
            });
          });
          req.on('error', reject);
          req.flushHeaders();
        });
      const tooBig = await ask(alice, 10 * 1024 * 1024 * 1024);
      expect(tooBig).toMatchObject({
        status: 413,
        continued: false,
        body: { error: { code: 'payload_too_large' } },
      });
      expect((await ask('jobs_bad', 1000)).status).toBe(401);
      const reader = await s.token('reader2', { permissions: ['job:Read'] });
      expect((await ask(reader, 1000)).status).toBe(403);
      // An acceptable request is asked for its body.
      expect(await ask(alice, 1000)).toMatchObject({ status: 100, continued: true });
      expect(await jobCount()).toBe(0);
    });

    it('rejects a filename that is a path, and writes nothing outside the blob directory', async () => {
      for (const name of ['../../escape.csv', 'a/../../b.csv', '..\\evil.csv']) {
        const res = await api(
          s.url,
          alice,
          'POST',
          '/api/jobs',
          form({ type: 'csv-import' }, { name, data: csv }),
        );
        expect(res.status).toBe(400);
        expect(res.body.error.message).toMatch(/filename/);
      }
      expect(await jobCount()).toBe(0);
      expect(filesUnder(s.blobsDir)).toEqual([]);
    });

    it('stores an accepted file under a server-chosen key with its size and sha256', async () => {
      const res = await api(
        s.url,
        alice,
        'POST',
        '/api/jobs',
        form({ type: 'csv-import' }, { name: 'people.csv', data: csv }),
      );
      expect(res.status).toBe(201);
      expect(res.body.input).toEqual({
        name: 'people.csv',
        size: Buffer.byteLength(csv),
        sha256: (await import('node:crypto')).createHash('sha256').update(csv).digest('hex'),
      });
      const files = filesUnder(s.blobsDir).map((f) => f.slice(s.blobsDir.length));
      expect(files).toEqual([`/inputs/${res.body.ownerId}/${res.body.id}`]);
      const done = await waitForJob(s.url, alice, res.body.id);
      expect(done.status).toBe('COMPLETED');
      expect(done.result).toEqual({ rows: 2, valid: 2, invalid: 0, columns: ['id', 'name'] });
    });

    it('fails a csv-import of binary data with a clear message', async () => {
      const bin = new Uint8Array(4096).map((_, i) => (i * 7919) % 256);
      const res = await api(
        s.url,
        alice,
        'POST',
        '/api/jobs',
        form({ type: 'csv-import' }, { name: 'photo.csv', data: bin }),
      );
      expect(res.status).toBe(201);
      const done = await waitForJob(s.url, alice, res.body.id);
      expect(done.status).toBe('FAILED');
      expect(done.error).toMatch(/binary|UTF-8/);
    });
  });

  describe('idempotency', () => {
    it('returns the same job for the same key and request (200) and keeps no second upload', async () => {
      const headers = { 'idempotency-key': 'order-42' };
      const first = await fetch(`${s.url}/api/jobs`, {
        method: 'POST',
        headers: { authorization: `Bearer ${alice}`, ...headers },
        body: form({ type: 'csv-import' }, { name: 'a.csv', data: csv }),
      });
      expect(first.status).toBe(201);
      const job = await first.json();
      const again = await fetch(`${s.url}/api/jobs`, {
        method: 'POST',
        headers: { authorization: `Bearer ${alice}`, ...headers },
        body: form({ type: 'csv-import' }, { name: 'a.csv', data: csv }),
      });
      expect(again.status).toBe(200);
      expect((await again.json()).id).toBe(job.id);
      expect(await jobCount()).toBe(1);
      expect(filesUnder(s.blobsDir)).toHaveLength(1);
      // Keys are per owner: bob's same key is a new job.
      const bobs = await api(s.url, bob, 'POST', '/api/jobs', { type: 'noop' }, headers);
      expect(bobs.status).toBe(201);
    });
  });

  describe('cancel and retry', () => {
    it('cancels a pending or running job and retries it', async () => {
      const { body } = await api(s.url, alice, 'POST', '/api/jobs', {
        type: 'latch', // held RUNNING (once the worker takes it) until cancelled: it cannot end first
      });
      const cancelled = await api(s.url, alice, 'POST', `/api/jobs/${body.id}/cancel`);
      expect(cancelled.status).toBe(200);
      expect(cancelled.body.status).toBe('CANCELLED');
      expect((await api(s.url, alice, 'POST', `/api/jobs/${body.id}/cancel`)).status).toBe(409);
      const retried = await api(s.url, alice, 'POST', `/api/jobs/${body.id}/retry`);
      expect(retried.status).toBe(200);
      // The worker may already have picked it up again.
      expect(['PENDING', 'RUNNING']).toContain(retried.body.status);
      expect(retried.body.attempts).toBeLessThanOrEqual(1);
      expect((await api(s.url, alice, 'POST', `/api/jobs/${body.id}/retry`)).status).toBe(409);
      expect((await api(s.url, alice, 'POST', `/api/jobs/${body.id}/cancel`)).body.status).toBe('CANCELLED');
    });
  });

  it('lists job types with JSON Schemas of their params', async () => {
    const res = await api(s.url, alice, 'GET', '/api/job-types');
    expect(res.status).toBe(200);
    const csvType = res.body.find((t: { type: string }) => t.type === 'csv-import');
    expect(csvType).toMatchObject({ input: 'required', params: { type: 'object' } });
    expect(Object.keys(csvType.params.properties)).toEqual(
      expect.arrayContaining(['delimiter', 'required', 'types', 'maxErrors']),
    );
  });

  it('answers unknown routes with a JSON 404 and health probes', async () => {
    expect((await api(s.url, alice, 'GET', '/api/nothing')).body.error.code).toBe('not_found');
    expect((await api(s.url, undefined, 'GET', '/healthz')).body).toEqual({ status: 'ok' });
    expect((await api(s.url, undefined, 'GET', '/readyz')).status).toBe(200);
  });
});
