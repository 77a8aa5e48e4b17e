import { createHash } from 'node:crypto';
import { ListObjectsV2Command } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from '@jest/globals';
import { S3BlobStore } from '../../core/blobs/s3-blob-store.js';
import { api, startTestServer, waitForJob, type TestServer } from '../helpers/api-server.js';
import { startEmulator, type Emulator } from '../helpers/fauxqs.js';
import { outputWriter } from '../helpers/output-writer.js';

const sha = (s: string) => createHash('sha256').update(s).digest('hex');

/**
 * Outputs with S3 (the fauxqs emulator, real SDK over HTTP): the processor writes them to the
 * bucket under outputs/<owner>/<job>/…, the API answers a download with 302 to a short-lived
 * presigned GET (the bytes never pass the API host), retries and retention delete the objects.
 */
describe('job outputs (S3 on the emulator)', () => {
  let emu: Emulator;
  let bucket: string;
  let s: TestServer;
  let alice: string;
  let bob: string;
  let admin: string;

  /** The output objects in the bucket, of `jobs` only (earlier tests' stay: the bucket is shared). */
  const keys = async (...jobs: string[]) =>
    ((await emu.s3.send(new ListObjectsV2Command({ Bucket: bucket }))).Contents ?? [])
      .map((o) => o.Key!)
      .filter((k) => k.startsWith('outputs/') && jobs.some((id) => k.includes(`/${id}/`)))
      .sort();

  beforeAll(async () => {
    emu = await startEmulator();
    bucket = await emu.createBucket(`outputs-${process.pid}`);
    s = await startTestServer('pglite', {
      handlers: [outputWriter],
      blobs: new S3BlobStore({ client: emu.s3, bucket }),
      config: { retryBaseMs: 10, retryMaxMs: 20 },
    });
    s.startWorker();
  });
  afterAll(async () => {
    await s?.close();
    await emu?.stop();
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

  it('stores outputs in the bucket and answers a download with 302 to a presigned GET', async () => {
    const text = 'id,reasons\r\n7,"too, short"\r\n';
    const job = await run(alice, { files: [{ name: 'rejected.csv', text, contentType: 'text/csv' }] });
    expect(job.status).toBe('COMPLETED');
    expect(job.outputs).toEqual([
      { name: 'rejected.csv', size: Buffer.byteLength(text), sha256: sha(text), contentType: 'text/csv' },
    ]);
    const stored = await keys(job.id);
    expect(stored).toHaveLength(1);
    expect(stored[0]).toMatch(new RegExp(`^outputs/${job.ownerId}/${job.id}/[0-9a-f-]{36}/rejected\\.csv$`));

    const res = await fetch(`${s.url}/api/jobs/${job.id}/outputs/rejected.csv`, {
      headers: { authorization: `Bearer ${alice}` },
      redirect: 'manual',
    });
    expect(res.status).toBe(302);
    expect(res.headers.get('cache-control')).toBe('no-store');
    const location = new URL(res.headers.get('location')!);
    expect(location.origin).toBe(emu.endpoint);
    expect(location.searchParams.get('X-Amz-Expires')).toBe('300');
    // The presigned URL needs no token: the client follows it without one.
    const bytes = await fetch(location);
    expect(bytes.status).toBe(200);
    expect(await bytes.text()).toBe(text);

    // Another user's job: 404 before any URL is signed; an admin's download works.
    const other = await fetch(`${s.url}/api/jobs/${job.id}/outputs/rejected.csv`, {
      headers: { authorization: `Bearer ${bob}` },
      redirect: 'manual',
    });
    expect(other.status).toBe(404);
    const asAdmin = await fetch(`${s.url}/api/jobs/${job.id}/outputs/rejected.csv`, {
      headers: { authorization: `Bearer ${admin}` },
    });
    expect(await asAdmin.text()).toBe(text);

    // The dashboard's link is the presigned URL itself.
    const link = await api(s.url, alice, 'POST', `/api/jobs/${job.id}/outputs/rejected.csv/link`);
    expect(link.status).toBe(200);
    expect(new URL(link.body.url).origin).toBe(emu.endpoint);
  });

  it('deletes the objects of attempts that were retried', async () => {
    const job = await run(alice, {
      files: [{ name: 'a.txt', text: 'x' }],
      failAttempts: 1,
      renameOnRetry: true,
    });
    expect(job).toMatchObject({ status: 'COMPLETED', attempts: 2 });
    expect(job.outputs.map((o: { name: string }) => o.name)).toEqual(['2-a.txt']);
    const stored = await keys(job.id);
    expect(stored).toHaveLength(1);
    expect(stored[0]).toMatch(/\/2-a\.txt$/);
  });

  it('retention deletes the outputs of the jobs it deletes, and only those', async () => {
    const old = await run(alice, { files: [{ name: 'old.txt', text: 'old' }] });
    const recent = await run(alice, { files: [{ name: 'recent.txt', text: 'recent' }] });
    expect(await keys(old.id, recent.id)).toHaveLength(2);
    await s.t.db.prisma.$executeRaw`
      UPDATE jobs SET finished_at = now() - interval '40 days' WHERE id = ${old.id}::uuid`;
    const pruned = await api(s.url, admin, 'POST', '/api/prune', { olderThan: '30d' });
    expect(pruned.body).toMatchObject({ jobs: 1, outputs: 1 });
    const left = await keys(old.id, recent.id);
    expect(left).toHaveLength(1);
    expect(left[0]).toContain(`/${recent.id}/`);
  });
});
