import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { FsBlobStore } from '../../core/blobs/fs-blob-store.js';
import { api, filesUnder, startTestServer, type TestServer } from '../helpers/api-server.js';

/**
 * A real full disk: a 4 MiB tmpfs mounted for the suite. Mounting needs root (CAP_SYS_ADMIN), as
 * in the CI container; elsewhere the suite is skipped, and says so.
 */
function mountTmpfs(dir: string): boolean {
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=4m', 'tmpfs', dir], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

const mountDir = fs.mkdtempSync(path.join(os.tmpdir(), 'jobs-full-disk-'));
const mounted = mountTmpfs(mountDir);
if (!mounted) console.warn('storage-full: skipped, a tmpfs cannot be mounted here (needs root)');

(mounted ? describe : describe.skip)('a full disk under the directory store', () => {
  let s: TestServer;
  let alice: string;
  const blobsDir = path.join(mountDir, 'blobs');
  const filler = path.join(mountDir, 'filler');

  beforeAll(async () => {
    s = await startTestServer('pglite', { appDeps: { blobs: new FsBlobStore(blobsDir) } });
    alice = await s.token('alice');
  });
  afterAll(async () => {
    await s?.close();
    execFileSync('umount', ['-l', mountDir]);
    fs.rmSync(mountDir, { recursive: true, force: true });
  });

  function upload(bytes: number) {
    const form = new FormData();
    form.set('type', 'csv-import');
    form.set('file', new Blob([Buffer.alloc(bytes, 'a,b\n')]), 'in.csv');
    return api(s.url, alice, 'POST', '/api/jobs', form);
  }

  it('answers 507, keeps nothing, reports it on /readyz, and recovers once space is back', async () => {
    expect((await api(s.url, undefined, 'GET', '/readyz')).status).toBe(200);
    // Fill the disk to the last page.
    expect(() => fs.writeFileSync(filler, Buffer.alloc(8 * 1024 * 1024))).toThrow(/ENOSPC/);

    const refused = await upload(256 * 1024);
    expect(refused.status).toBe(507);
    expect(refused.body.error).toMatchObject({
      code: 'insufficient_storage',
      message: expect.stringMatching(/storage space/),
    });
    expect(filesUnder(blobsDir).filter((f) => !f.endsWith('.upload-secret'))).toEqual([]);
    expect(await s.t.db.prisma.job.count()).toBe(0);

    const unready = await api(s.url, undefined, 'GET', '/readyz');
    expect(unready.status).toBe(503);
    expect(unready.body.checks.blobs).toMatch(/^error: no space left/);
    expect(unready.body.checks.database).toBe('ok');

    fs.rmSync(filler);
    const ready = await api(s.url, undefined, 'GET', '/readyz');
    expect([ready.status, ready.body.checks.blobs]).toEqual([200, 'ok']);
    expect((await upload(256 * 1024)).status).toBe(201);
  });

  it("answers 507 to a direct upload's part, keeps no part of it, and takes it again once space is back", async () => {
    const data = Buffer.alloc(512 * 1024, 'a,b\n');
    const sha256 = createHash('sha256').update(data).digest('hex');
    const begun = await api(s.url, alice, 'POST', '/api/uploads', { fileName: 'big.csv', size: data.length });
    expect(begun.status).toBe(201);
    const [part] = begun.body.parts as { url: string }[];
    const put = () => fetch(part.url, { method: 'PUT', body: new Blob([data as BlobPart]) });
    expect(() => fs.writeFileSync(filler, Buffer.alloc(8 * 1024 * 1024))).toThrow(/ENOSPC/);

    const refused = await put();
    expect(refused.status).toBe(507);
    expect((await refused.json()).error.code).toBe('insufficient_storage');
    // The upload is still there, without part 1: completing now would fail.
    expect(fs.readdirSync(path.join(blobsDir, '.uploads', begun.body.uploadId))).toEqual(['data']);

    fs.rmSync(filler);
    const again = await put();
    expect(again.status).toBe(200);
    const parts = [{ partNumber: 1, etag: again.headers.get('etag') }];
    const done = await api(s.url, alice, 'POST', `/api/uploads/${begun.body.uploadId}/complete`, {
      parts,
      sha256,
    });
    expect(done.status).toBe(200);
    const stored = path.join(blobsDir, ...begun.body.key.split('/'));
    expect(createHash('sha256').update(fs.readFileSync(stored)).digest('hex')).toBe(sha256);
  });
});

if (!mounted) fs.rmSync(mountDir, { recursive: true, force: true });
