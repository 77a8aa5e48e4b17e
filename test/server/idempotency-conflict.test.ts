import { createHash } from 'node:crypto';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from '@jest/globals';
import { idempotencyDifferences } from '../../core/jobs/idempotency.js';
import { api, filesUnder, startTestServer, type TestServer } from '../helpers/api-server.js';
import { dbKinds } from '../helpers/db.js';

const csv = 'id,name\n1,ada\n2,grace\n';

function form(fields: Record<string, string>, file?: { name: string; data: string }): FormData {
  const f = new FormData();
  for (const [k, v] of Object.entries(fields)) f.append(k, v);
  if (file) f.append('file', new Blob([file.data]), file.name);
  return f;
}

const sha256 = (s: string) => createHash('sha256').update(s).digest('hex');

/**
 * The same Idempotency-Key with the same request is a retry (200, the first job); with a
 * different request it is a conflict (422 `idempotency_conflict`, naming what differs), never
 * the first job passed off as the answer to another request.
 */
describe.each(dbKinds())('Idempotency-Key conflicts on %s', (kind) => {
  let s: TestServer;
  let alice: string;

  beforeAll(async () => {
    s = await startTestServer(kind, { partSize: 5 * 1024 * 1024 });
  });
  afterAll(async () => {
    await s.close();
  });
  beforeEach(async () => {
    await s.reset();
    alice = await s.token('alice');
  });

  const post = (body: unknown, key: string) =>
    api(s.url, alice, 'POST', '/api/jobs', body, { 'idempotency-key': key });
  const jobCount = () => s.t.db.prisma.job.count();

  it('answers 200 with the first job for the same JSON request (key order and defaults aside)', async () => {
    const first = await post({ type: 'noop', params: { sleepMs: 60_000, logLines: 2 } }, 'k1');
    expect(first.status).toBe(201);
    const same = [
      { type: 'noop', params: { logLines: 2, sleepMs: 60_000 } },
      { type: 'noop', params: { logLines: 2, sleepMs: 60_000, fail: false } }, // `fail` defaults to false
      { type: 'noop', params: { logLines: 2, sleepMs: 60_000 }, maxAttempts: first.body.maxAttempts },
    ];
    for (const body of same) {
      const again = await post(body, 'k1');
      expect({ body, status: again.status, id: again.body.id }).toEqual({
        body,
        status: 200,
        id: first.body.id,
      });
    }
    expect(await jobCount()).toBe(1);
  });

  it('answers 422 naming what differs for a different JSON request, and creates nothing', async () => {
    const first = await post({ type: 'noop', params: { sleepMs: 60_000 } }, 'k2');
    expect(first.status).toBe(201);
    const cases: [unknown, string[]][] = [
      [{ type: 'noop', params: { sleepMs: 1 } }, ['params']],
      [{ type: 'noop', params: { sleepMs: 60_000, fail: true } }, ['params']],
      [{ type: 'noop', params: { sleepMs: 60_000 }, maxAttempts: 7 }, ['maxAttempts']],
      [{ type: 'noop' }, ['params']],
    ];
    for (const [body, fields] of cases) {
      const res = await post(body, 'k2');
      expect({ body, status: res.status }).toEqual({ body, status: 422 });
      expect(res.body.error).toEqual({
        code: 'idempotency_conflict',
        message: `Idempotency-Key "k2" was already used for a different request (${fields.join(', ')} differ); send a new key for a new job`,
        details: { jobId: first.body.id, fields },
      });
    }
    expect(await jobCount()).toBe(1);
  });

  it('compares an uploaded file by name, size and SHA-256, and keeps no second upload', async () => {
    const send = (name: string, data: string, key = 'k3', params?: unknown) =>
      fetch(`${s.url}/api/jobs`, {
        method: 'POST',
        headers: { authorization: `Bearer ${alice}`, 'idempotency-key': key },
        body: form(
          { type: 'csv-import', ...(params ? { params: JSON.stringify(params) } : {}) },
          { name, data },
        ),
      });
    const first = await send('a.csv', csv);
    expect(first.status).toBe(201);
    const job = await first.json();
    const again = await send('a.csv', csv);
    expect(again.status).toBe(200);
    expect((await again.json()).id).toBe(job.id);

    const cases: [string, string, unknown, string][] = [
      ['a.csv', csv + '3,linus\n', undefined, 'input'],
      ['a.csv', csv.replace('ada', 'bob'), undefined, 'input'], // same size, other bytes
      ['b.csv', csv, undefined, 'input'],
      ['a.csv', csv, { maxErrors: 3 }, 'params'],
    ];
    for (const [name, data, params, field] of cases) {
      const res = await send(name, data, 'k3', params);
      expect({ name, status: res.status }).toEqual({ name, status: 422 });
      const body = await res.json();
      expect(body.error.code).toBe('idempotency_conflict');
      expect(body.error.details.fields).toEqual([field]);
    }
    expect(await jobCount()).toBe(1);
    expect(filesUnder(s.blobsDir).filter((f) => !f.endsWith('.upload-secret'))).toHaveLength(1);
  });

  it('compares a direct upload by identity', async () => {
    async function upload(data: string): Promise<string> {
      const begun = await api(s.url, alice, 'POST', '/api/uploads', {
        fileName: 'big.csv',
        size: Buffer.byteLength(data),
        sha256: sha256(data),
      });
      expect(begun.status).toBe(201);
      const part = await fetch(begun.body.parts[0].url, { method: 'PUT', body: data });
      expect(part.status).toBe(200);
      const done = await api(s.url, alice, 'POST', `/api/uploads/${begun.body.uploadId}/complete`, {
        parts: [{ partNumber: 1, etag: part.headers.get('etag') }],
      });
      expect(done.status).toBe(200);
      return begun.body.uploadId;
    }
    const one = await upload(csv);
    const first = await post({ type: 'csv-import', uploadId: one }, 'k4');
    expect(first.status).toBe(201);
    // A retry after the first answer was lost: the upload is USED by that very job.
    const again = await post({ type: 'csv-import', uploadId: one }, 'k4');
    expect(again.status).toBe(200);
    expect(again.body.id).toBe(first.body.id);
    // The same bytes uploaded again are another upload.
    const two = await upload(csv);
    const other = await post({ type: 'csv-import', uploadId: two }, 'k4');
    expect(other.status).toBe(422);
    expect(other.body.error.details.fields).toEqual(['input']);
    expect((await s.t.db.prisma.upload.findUniqueOrThrow({ where: { id: two } })).status).toBe('COMPLETED');
    expect(await jobCount()).toBe(1);
  });

  it('settles concurrent requests with one key: one job, the same request 200, another 422', async () => {
    const body = { type: 'noop', params: { sleepMs: 60_000 } };
    const answers = await Promise.all([
      ...Array.from({ length: 4 }, () => post(body, 'k5')),
      post({ type: 'noop', params: { sleepMs: 1 } }, 'k5'),
    ]);
    expect(await jobCount()).toBe(1);
    const job = await s.t.db.prisma.job.findFirstOrThrow();
    expect(answers.filter((a) => a.status === 201)).toHaveLength(1);
    const created = answers.find((a) => a.status === 201)!;
    expect(created.body.id).toBe(job.id);
    // Whichever request won, the others that match it get its job and the rest 422.
    const winner = (job.params as { sleepMs: number }).sleepMs;
    const expected = answers.map((_, i) => (i < 4 ? winner === 60_000 : winner === 1));
    expect(answers.map((a) => a.status < 300)).toEqual(expected);
    for (const a of answers) expect([200, 201, 422]).toContain(a.status);
  });
});

describe('idempotencyDifferences', () => {
  const first = {
    type: 'csv-import',
    params: { delimiter: ',', required: [], types: { a: 'integer', b: 'date' }, maxErrors: 0 },
    maxAttempts: 3,
    inputName: 'a.csv',
    inputSize: 10n,
    inputSha256: 'f'.repeat(64),
    inputKey: 'inputs/u/j',
  };
  const input = { name: 'a.csv', size: 10, sha256: 'f'.repeat(64) };

  it('ignores the order of keys at every depth, and names each differing field', () => {
    const params = { maxErrors: 0, types: { b: 'date', a: 'integer' }, required: [], delimiter: ',' };
    expect(idempotencyDifferences(first, { type: 'csv-import', params, input, maxAttempts: 3 })).toEqual([]);
    expect(
      idempotencyDifferences(first, {
        type: 'noop',
        params: { ...params, required: ['a'] },
        input: { ...input, size: 11 },
        maxAttempts: 4,
      }),
    ).toEqual(['type', 'params', 'input', 'maxAttempts']);
    // Array order is meaning, not formatting.
    expect(
      idempotencyDifferences(
        { ...first, params: { required: ['a', 'b'] } },
        { type: 'csv-import', params: { required: ['b', 'a'] }, input, maxAttempts: 3 },
      ),
    ).toEqual(['params']);
  });

  it('tells a file from no file and an upload from another', () => {
    const noInput = { ...first, inputName: null, inputSize: null, inputSha256: null, inputKey: null };
    const req = { type: 'csv-import', params: first.params, maxAttempts: 3 };
    expect(idempotencyDifferences(noInput, req)).toEqual([]);
    expect(idempotencyDifferences(first, req)).toEqual(['input']);
    expect(idempotencyDifferences(noInput, { ...req, input })).toEqual(['input']);
    expect(idempotencyDifferences(first, { ...req, uploadId: 'x' }, 'inputs/u/j')).toEqual([]);
    expect(idempotencyDifferences(first, { ...req, uploadId: 'x' }, 'inputs/u/other')).toEqual(['input']);
    expect(idempotencyDifferences(first, { ...req, uploadId: 'x' }, undefined)).toEqual(['input']);
  });
});
