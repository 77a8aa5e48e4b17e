import { createHash } from 'node:crypto';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from '@jest/globals';
import { api, filesUnder, startTestServer, waitForJob, type TestServer } from '../helpers/api-server.js';
import { dbKinds } from '../helpers/db.js';
import { outputWriter } from '../helpers/output-writer.js';

const sha = (s: string | Buffer) => createHash('sha256').update(s).digest('hex');

/**
 * Job outputs end to end on a real server with the directory store: a handler writes them through
 * ctx.outputs, the job lists them, `GET /api/jobs/:id/outputs/:name` serves them (ownership,
 * ETag, Range, 304), retries discard them, and signed links work without a token.
 */
describe.each(dbKinds())('job outputs (%s, directory store)', (kind) => {
  let s: TestServer;
  let alice: string;
  let bob: string;
  let admin: string;

  beforeAll(async () => {
    s = await startTestServer(kind, {
      handlers: [outputWriter],
      config: { retryBaseMs: 10, retryMaxMs: 20 },
    });
    s.startWorker();
  });
  afterAll(async () => {
    await s?.close();
  });
  beforeEach(async () => {
    await s.reset();
    alice = await s.token('alice');
    bob = await s.token('bob');
    admin = await s.token('root', { admin: true });
  });

  async function run(token: string, params: object) {
    const created = await api(s.url, token, 'POST', '/api/jobs', { type: 'output-writer', params });
    expect(created.status).toBe(201);
    return waitForJob(s.url, token, created.body.id);
  }

  const download = (id: string, name: string, token?: string, headers: Record<string, string> = {}) =>
    fetch(`${s.url}/api/jobs/${id}/outputs/${encodeURIComponent(name)}`, {
      headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), ...headers },
    });

  it('lists what the handler wrote and serves it with Content-Length, ETag and Content-Disposition', async () => {
    const text = 'line,reasons\r\n2,"bad, very"\r\n';
    const job = await run(alice, {
      files: [
        { name: 'rejected.csv', text, contentType: 'text/csv' },
        { name: 'empty.bin', text: '' },
      ],
    });
    expect(job.status).toBe('COMPLETED');
    expect(job.outputs).toEqual([
      { name: 'rejected.csv', size: Buffer.byteLength(text), sha256: sha(text), contentType: 'text/csv' },
      { name: 'empty.bin', size: 0, sha256: sha(''), contentType: 'application/octet-stream' },
    ]);
    // Listed by the list too (one column of the row: no join).
    const list = await api(s.url, alice, 'GET', '/api/jobs');
    expect(list.body.items[0].outputs).toEqual(job.outputs);

    const res = await download(job.id, 'rejected.csv', alice);
    expect(res.status).toBe(200);
    expect(await res.text()).toBe(text);
    expect(res.headers.get('content-length')).toBe(String(Buffer.byteLength(text)));
    expect(res.headers.get('etag')).toBe(`"${sha(text)}"`);
    expect(res.headers.get('content-type')).toBe('text/csv');
    expect(res.headers.get('content-disposition')).toBe('attachment; filename="rejected.csv"');
    expect(res.headers.get('accept-ranges')).toBe('bytes');

    const empty = await download(job.id, 'empty.bin', alice);
    expect(empty.status).toBe(200);
    expect(await empty.text()).toBe('');
  });

  it("answers 404 for another user's job, 200 for an admin, 401 without a token", async () => {
    const job = await run(alice, { files: [{ name: 'a.txt', text: 'hello' }] });
    const other = await download(job.id, 'a.txt', bob);
    expect(other.status).toBe(404);
    expect((await other.json()).error.code).toBe('not_found');
    expect((await download(job.id, 'a.txt', admin)).status).toBe(200);
    expect((await download(job.id, 'a.txt')).status).toBe(401);
    expect((await download(job.id, 'missing.txt', alice)).status).toBe(404);
    expect((await download('00000000-0000-4000-8000-000000000000', 'a.txt', alice)).status).toBe(404);
    // Bob's link request is refused the same way.
    expect((await api(s.url, bob, 'POST', `/api/jobs/${job.id}/outputs/a.txt/link`)).status).toBe(404);
  });

  it('serves ranges (206, suffix, If-Range), 416 outside the file and 304 for a matching If-None-Match', async () => {
    const text = '0123456789';
    const job = await run(alice, { files: [{ name: 'digits.txt', text }] });
    const etag = `"${sha(text)}"`;

    const part = await download(job.id, 'digits.txt', alice, { range: 'bytes=2-5' });
    expect(part.status).toBe(206);
    expect(await part.text()).toBe('2345');
    expect(part.headers.get('content-range')).toBe('bytes 2-5/10');
    expect(part.headers.get('content-length')).toBe('4');

    const suffix = await download(job.id, 'digits.txt', alice, { range: 'bytes=-3' });
    expect(suffix.status).toBe(206);
    expect(await suffix.text()).toBe('789');

    const open = await download(job.id, 'digits.txt', alice, { range: 'bytes=7-' });
    expect(await open.text()).toBe('789');

    const beyond = await download(job.id, 'digits.txt', alice, { range: 'bytes=10-20' });
    expect(beyond.status).toBe(416);
    expect(beyond.headers.get('content-range')).toBe('bytes */10');

    const stale = await download(job.id, 'digits.txt', alice, { range: 'bytes=2-5', 'if-range': '"other"' });
    expect(stale.status).toBe(200);
    expect(await stale.text()).toBe(text);
    const same = await download(job.id, 'digits.txt', alice, { range: 'bytes=2-5', 'if-range': etag });
    expect(same.status).toBe(206);
    await same.text();

    const cached = await download(job.id, 'digits.txt', alice, { 'if-none-match': etag });
    expect(cached.status).toBe(304);
    const changed = await download(job.id, 'digits.txt', alice, { 'if-none-match': '"nope"' });
    expect(changed.status).toBe(200);
    await changed.text();
  });

  it('discards the outputs of an attempt that failed and was retried; the completed job keeps the last', async () => {
    const job = await run(alice, {
      files: [{ name: 'a.txt', text: 'attempt output' }],
      failAttempts: 2,
      renameOnRetry: true,
    });
    expect(job).toMatchObject({ status: 'COMPLETED', attempts: 3 });
    expect(job.outputs.map((o: { name: string }) => o.name)).toEqual(['3-a.txt']);
    // Nothing of attempts 1 and 2 is left in the store.
    const files = filesUnder(s.blobsDir).filter((f) => f.includes('/outputs/'));
    expect(files).toHaveLength(1);
    expect(files[0]).toMatch(/\/3-a\.txt$/);
  });

  it('keeps the outputs of a FAILED job; `retry` unlists them at once, and the next attempt deletes them', async () => {
    const failed = await run(alice, { files: [{ name: 'report.txt', text: 'v1' }], failAfter: true });
    expect(failed.status).toBe('FAILED');
    expect(failed.outputs.map((o: { name: string }) => o.name)).toEqual(['report.txt']);
    expect((await download(failed.id, 'report.txt', alice)).status).toBe(200);

    await s.stopWorker();
    const retried = await api(s.url, alice, 'POST', `/api/jobs/${failed.id}/retry`);
    expect(retried.status).toBe(200);
    expect(retried.body.outputs).toEqual([]);
    expect((await download(failed.id, 'report.txt', alice)).status).toBe(404);
    // The blob is still there (recorded, unlisted) until the next attempt writes its first output.
    expect(filesUnder(s.blobsDir).filter((f) => f.includes('/outputs/'))).toHaveLength(1);
    s.startWorker();
    const again = await waitForJob(s.url, alice, failed.id);
    expect(again.status).toBe('FAILED'); // same params: fails again after writing
    expect(again.outputs.map((o: { name: string }) => o.name)).toEqual(['report.txt']);
    expect(filesUnder(s.blobsDir).filter((f) => f.includes('/outputs/'))).toHaveLength(1);
  });

  it('fails the job with one clear sentence for a bad output name, and lists nothing', async () => {
    for (const name of ['../etc/passwd', 'a/b.txt', '.hidden', 'x'.repeat(129), 'spaces are bad.txt']) {
      const job = await run(alice, { files: [{ name, text: 'x' }] });
      expect(job.status).toBe('FAILED');
      expect(job.error).toMatch(/output name/);
      expect(job.outputs).toEqual([]);
    }
    const bad = await run(alice, { files: [{ name: 'a.txt', text: 'x', contentType: 'not a type' }] });
    expect(bad.error).toMatch(/^invalid content type "not a type"/);
    const twice = await run(alice, {
      files: [
        { name: 'a.txt', text: 'x' },
        { name: 'a.txt', text: 'y' },
      ],
    });
    expect(twice.error).toBe('output "a.txt" was already created by this attempt');
  });

  it('fails a job whose handler returned with an output still open, and does not list that output', async () => {
    const job = await run(alice, { files: [{ name: 'done.txt', text: 'ok' }], leaveOpen: 'half.txt' });
    expect(job.status).toBe('FAILED');
    expect(job.error).toMatch(/^output half\.txt was not finished/);
    expect(job.outputs.map((o: { name: string }) => o.name)).toEqual(['done.txt']);
    expect(filesUnder(s.blobsDir).filter((f) => f.includes('half'))).toEqual([]);
  });

  it('retention deletes the outputs of the jobs it deletes (listed or unlisted by a retry), and only those', async () => {
    const old = await run(alice, {
      files: [
        { name: 'a.txt', text: 'a' },
        { name: 'b.txt', text: 'b' },
      ],
    });
    const unlisted = await run(alice, { files: [{ name: 'c.txt', text: 'c' }], failAfter: true });
    await s.stopWorker();
    expect((await api(s.url, alice, 'POST', `/api/jobs/${unlisted.id}/retry`)).body.outputs).toEqual([]);
    await s.t.db.prisma.$executeRaw`
      UPDATE jobs SET status = 'CANCELLED', finished_at = now() - interval '40 days'
      WHERE id IN (${old.id}::uuid, ${unlisted.id}::uuid)`;
    s.startWorker();
    const recent = await run(alice, { files: [{ name: 'keep.txt', text: 'keep' }] });
    expect(filesUnder(s.blobsDir).filter((f) => f.includes('/outputs/'))).toHaveLength(4);

    const pruned = await api(s.url, admin, 'POST', '/api/prune', { olderThan: '30d' });
    expect(pruned.body).toMatchObject({ jobs: 2, outputs: 3 });
    const left = filesUnder(s.blobsDir).filter((f) => f.includes('/outputs/'));
    expect(left).toHaveLength(1);
    expect(left[0]).toContain(`/${recent.id}/`);
    expect((await download(recent.id, 'keep.txt', alice)).status).toBe(200);
  });

  it('hands out a signed link that downloads without a token, and refuses a forged or expired one', async () => {
    const job = await run(alice, { files: [{ name: 'a.txt', text: 'linked' }] });
    const link = await api(s.url, alice, 'POST', `/api/jobs/${job.id}/outputs/a.txt/link`);
    expect(link.status).toBe(200);
    expect(link.body.url).toMatch(
      new RegExp(`^/api/jobs/${job.id}/outputs/a\\.txt\\?expires=\\d+&signature=[0-9a-f]{64}$`),
    );
    expect(Date.parse(link.body.expiresAt)).toBeGreaterThan(Date.now());
    const res = await fetch(s.url + link.body.url);
    expect(res.status).toBe(200);
    expect(await res.text()).toBe('linked');

    // One hex digit changed (to another digit: '0' would be no change when it already is one).
    const forgedUrl = link.body.url.replace(
      /signature=(.)/,
      (_m: string, c: string) => `signature=${c === '0' ? '1' : '0'}`,
    );
    expect(forgedUrl).not.toBe(link.body.url);
    const forged = await fetch(s.url + forgedUrl);
    expect(forged.status).toBe(403);
    const url = new URL(s.url + link.body.url);
    url.searchParams.set('expires', String(Number(url.searchParams.get('expires')) + 1));
    expect((await fetch(url)).status).toBe(403);
    // Another output of the same job is not covered by the signature.
    expect((await fetch(s.url + link.body.url.replace('/a.txt?', '/b.txt?'))).status).toBe(403);
  });
});
