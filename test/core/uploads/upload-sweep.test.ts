import { createHash } from 'node:crypto';
import fs from 'node:fs';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { ListObjectsV2Command, UploadPartCommand } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from '@jest/globals';
import { pino } from 'pino';
import { AuthService } from '../../../core/auth/auth-service.js';
import type { Principal } from '../../../core/auth/principal.js';
import { FsBlobStore } from '../../../core/blobs/fs-blob-store.js';
import { S3BlobStore } from '../../../core/blobs/s3-blob-store.js';
import { ConflictError, TooManyRequestsError } from '../../../core/errors.js';
import { startUploadSweeper } from '../../../core/uploads/upload-sweeper.js';
import { UploadsService, type SweepResult } from '../../../core/uploads/uploads-service.js';
import { createApp } from '../../../server/app.js';
import { createHttpServer } from '../../../server/continue.js';
import { api } from '../../helpers/api-server.js';
import { dbKinds, openTestDatabase, type TestDatabase } from '../../helpers/db.js';
import { startEmulator, type Emulator } from '../../helpers/fauxqs.js';
import { composeForTest } from '../../helpers/platform.js';

/**
 * Direct uploads are not kept forever, nor opened without limit: sweepExpired() removes what is
 * left past an upload's expiry (unfinished parts, completed files no job used) from the store and
 * the database, and a user may have only so many unfinished uploads at once (429 beyond).
 */
const MiB = 1024 * 1024;
const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');
const GRACE_MS = 15 * 60_000;

/** Moves an upload's expiry `msAgo` into the past (as if its time had run out). */
async function expire(t: TestDatabase, id: string, msAgo: number): Promise<void> {
  await t.db.prisma.upload.update({ where: { id }, data: { expiresAt: new Date(Date.now() - msAgo) } });
}

async function principal(auth: AuthService, user: string): Promise<Principal> {
  return auth.authenticate((await auth.createToken({ userName: user })).token);
}

describe.each(dbKinds())('expired direct uploads, directory store, on %s', (kind) => {
  let t: TestDatabase;
  let root: string;
  let store: FsBlobStore;
  let uploads: UploadsService;
  let auth: AuthService;
  let alice: Principal;
  let bob: Principal;

  beforeAll(async () => {
    t = await openTestDatabase(kind);
    auth = new AuthService(t.db.prisma);
  });
  afterAll(async () => {
    await t.close();
  });
  beforeEach(async () => {
    await t.reset();
    if (root) fs.rmSync(root, { recursive: true, force: true });
    root = fs.mkdtempSync(path.join(os.tmpdir(), 'jobs-sweep-'));
    store = new FsBlobStore(root, { partSize: 8 });
    uploads = new UploadsService(t.db.prisma, store, { maxUploadBytes: MiB, maxOpenUploads: 3 });
    alice = await principal(auth, 'alice');
    bob = await principal(auth, 'bob');
  });
  afterAll(() => fs.rmSync(root, { recursive: true, force: true }));

  const partsDir = (id: string) => path.join(root, '.uploads', id);
  const blob = (key: string) => path.join(root, ...key.split('/'));
  const data = Buffer.from('id,name\n1,a\n'); // 12 bytes: parts of 8 and 4

  /** Begins an upload and sends its first part. */
  async function started(who: Principal) {
    const begun = await uploads.begin(
      who,
      { fileName: 'f.csv', size: data.length, sha256: sha(data) },
      'http://x',
    );
    const { etag } = await store.putPart(begun.uploadId, 1, Readable.from([data.subarray(0, 8)]), {
      offset: 0,
      maxBytes: 8,
    });
    return { ...begun, etags: [{ partNumber: 1, etag }] };
  }
  async function completed(who: Principal) {
    const u = await started(who);
    const { etag } = await store.putPart(u.uploadId, 2, Readable.from([data.subarray(8)]), {
      offset: 8,
      maxBytes: 4,
    });
    await uploads.complete(who, u.uploadId, [...u.etags, { partNumber: 2, etag }]);
    return u;
  }
  const row = (id: string) => t.db.prisma.upload.findUnique({ where: { id } });

  it("removes an abandoned upload's parts and row, and an unused completed file; leaves live and used ones", async () => {
    const abandoned = await started(alice);
    const live = await started(alice);
    const unused = await completed(bob);
    const used = await completed(bob);
    const justExpired = await started(bob);
    await expire(t, abandoned.uploadId, GRACE_MS + 60_000);
    await expire(t, unused.uploadId, GRACE_MS + 60_000);
    await expire(t, used.uploadId, GRACE_MS + 60_000);
    await t.db.prisma.upload.update({ where: { id: used.uploadId }, data: { status: 'USED' } });
    // Expired, but within the grace a completion that began in time may still be running.
    await expire(t, justExpired.uploadId, 60_000);
    expect(fs.existsSync(partsDir(abandoned.uploadId))).toBe(true);
    expect(fs.existsSync(blob(unused.key))).toBe(true);

    expect(await uploads.sweepExpired()).toEqual({ aborted: 1, removed: 1, failed: 0 });

    expect(fs.existsSync(partsDir(abandoned.uploadId))).toBe(false);
    expect(await row(abandoned.uploadId)).toBeNull();
    expect(fs.existsSync(blob(unused.key))).toBe(false);
    expect(await row(unused.uploadId)).toBeNull();
    expect(fs.existsSync(blob(used.key))).toBe(true);
    expect((await row(used.uploadId))?.status).toBe('USED');
    expect(fs.existsSync(partsDir(justExpired.uploadId))).toBe(true);
    // The live upload goes on as if nothing happened.
    expect(fs.readdirSync(partsDir(live.uploadId)).sort()).toEqual(['1', 'data']); // part 1's marker, the bytes
    const { etag } = await store.putPart(live.uploadId, 2, Readable.from([data.subarray(8)]), {
      offset: 8,
      maxBytes: 4,
    });
    await uploads.complete(alice, live.uploadId, [...live.etags, { partNumber: 2, etag }]);
    expect(fs.readFileSync(blob(live.key))).toEqual(data);
    // Nothing is left to sweep.
    expect(await uploads.sweepExpired()).toEqual({ aborted: 0, removed: 0, failed: 0 });
  });

  it('works in batches until everything expired is gone', async () => {
    const ids = [];
    for (let i = 0; i < 3; i++) ids.push((await started(alice)).uploadId);
    for (let i = 0; i < 3; i++) ids.push((await started(bob)).uploadId);
    for (const id of ids) await expire(t, id, GRACE_MS + 60_000);
    expect(await uploads.sweepExpired({ batchSize: 2, maxBatches: 2 })).toEqual({
      aborted: 4,
      removed: 0,
      failed: 0,
    });
    expect(await uploads.sweepExpired({ batchSize: 2 })).toEqual({ aborted: 2, removed: 0, failed: 0 });
    expect(await t.db.prisma.upload.count()).toBe(0);
    expect(fs.readdirSync(path.join(root, '.uploads'))).toEqual([]);
  });

  it('keeps the row of an upload the store failed to clean, for the next sweep', async () => {
    const a = await started(alice);
    const b = await started(alice);
    await expire(t, a.uploadId, GRACE_MS + 60_000);
    await expire(t, b.uploadId, GRACE_MS + 60_000);
    let failures = 1;
    const flaky = Object.assign(Object.create(store) as FsBlobStore, {
      abort: async (key: string, opts: { uploadId: string; storeUploadId: string | null }) => {
        if (opts.uploadId === a.uploadId && failures-- > 0) throw new Error('disk on fire');
        return store.abort(key, opts);
      },
    });
    const sweeping = new UploadsService(t.db.prisma, flaky, { maxUploadBytes: MiB });
    expect(await sweeping.sweepExpired()).toEqual({ aborted: 1, removed: 0, failed: 1 });
    expect(await row(a.uploadId)).not.toBeNull();
    expect(fs.existsSync(partsDir(a.uploadId))).toBe(true);
    expect(await sweeping.sweepExpired()).toEqual({ aborted: 1, removed: 0, failed: 0 });
    expect(await row(a.uploadId)).toBeNull();
    expect(fs.existsSync(partsDir(a.uploadId))).toBe(false);
  });

  it('refuses to complete an upload after its expiry (409)', async () => {
    const u = await started(alice);
    const { etag } = await store.putPart(u.uploadId, 2, Readable.from([data.subarray(8)]), {
      offset: 8,
      maxBytes: 4,
    });
    await expire(t, u.uploadId, 1000);
    await expect(uploads.complete(alice, u.uploadId, [...u.etags, { partNumber: 2, etag }])).rejects.toThrow(
      ConflictError,
    );
    expect(fs.existsSync(blob(u.key))).toBe(false);
  });

  it('caps unfinished uploads per user (429 naming the limit, retry when the next one expires)', async () => {
    const first = await started(alice);
    await started(alice);
    const third = await started(alice);
    const err = await uploads
      .begin(alice, { fileName: 'f.csv', size: data.length, sha256: sha(data) }, 'http://x')
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TooManyRequestsError);
    const tooMany = err as TooManyRequestsError;
    expect(tooMany.message).toMatch(/^3 uploads are already in progress, the most allowed at once/);
    expect(tooMany.details).toEqual({ limit: 3, open: 3 });
    // The next slot frees when the oldest expires (6 h after it began).
    expect(tooMany.retryAfterSeconds).toBeGreaterThan(6 * 3600 - 120);
    expect(tooMany.retryAfterSeconds).toBeLessThanOrEqual(6 * 3600);
    // Nothing was begun in the store for the refused one.
    expect(fs.readdirSync(path.join(root, '.uploads'))).toHaveLength(3);
    // Another user is not affected.
    await started(bob);
    // A completed upload is not open any more; nor is an expired one.
    const { etag } = await store.putPart(first.uploadId, 2, Readable.from([data.subarray(8)]), {
      offset: 8,
      maxBytes: 4,
    });
    await uploads.complete(alice, first.uploadId, [...first.etags, { partNumber: 2, etag }]);
    await started(alice);
    await expect(started(alice)).rejects.toThrow(TooManyRequestsError);
    await expire(t, third.uploadId, 1000);
    await started(alice);
  });

  it('holds the cap when a user begins many uploads at once', async () => {
    const results = await Promise.allSettled(Array.from({ length: 6 }, () => started(alice)));
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(3);
    for (const r of results.filter((x) => x.status === 'rejected')) {
      expect((r as PromiseRejectedResult).reason).toBeInstanceOf(TooManyRequestsError);
    }
    expect(await t.db.prisma.upload.count({ where: { ownerId: alice.userId } })).toBe(3);
    expect(fs.readdirSync(path.join(root, '.uploads'))).toHaveLength(3);
  });

  it('answers POST /api/uploads beyond the cap with 429 and Retry-After', async () => {
    const platform = await composeForTest(t, {
      blobs: store,
      config: { maxUploadBytes: MiB, maxOpenUploads: 1 },
    });
    const app = createApp(platform.api);
    const server = createHttpServer(app);
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    try {
      const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
      const token = (await auth.createToken({ userName: 'carol' })).token;
      const body = { fileName: 'f.csv', size: data.length, sha256: sha(data) };
      expect((await api(url, token, 'POST', '/api/uploads', body)).status).toBe(201);
      const res = await fetch(`${url}/api/uploads`, {
        method: 'POST',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
      expect(res.status).toBe(429);
      expect(Number(res.headers.get('retry-after'))).toBeGreaterThan(6 * 3600 - 120);
      expect(await res.json()).toEqual({
        error: {
          code: 'too_many_requests',
          message: expect.stringMatching(/^1 uploads are already in progress/),
          details: { limit: 1, open: 1 },
        },
      });
    } finally {
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
      await platform.dispose();
    }
  });
});

describe('expired direct uploads, S3 (fauxqs)', () => {
  let emu: Emulator;
  let t: TestDatabase;
  let bucket: string;
  let uploads: UploadsService;
  let alice: Principal;
  const data = Buffer.alloc(6 * MiB, 1); // parts of 5 MiB and 1 MiB

  beforeAll(async () => {
    [emu, t] = await Promise.all([startEmulator(), openTestDatabase('pglite')]);
    bucket = await emu.createBucket('sweep');
    const store = new S3BlobStore({ client: emu.s3, bucket, partSize: 5 * MiB });
    uploads = new UploadsService(t.db.prisma, store, { maxUploadBytes: 10 * MiB });
    alice = await principal(new AuthService(t.db.prisma), 'alice');
  });
  afterAll(async () => {
    await emu.stop();
    await t.close();
  });

  const put = async (url: string, body: Buffer) => {
    const res = await fetch(url, { method: 'PUT', body: new Blob([body as BlobPart]) });
    await res.arrayBuffer();
    return { status: res.status, etag: res.headers.get('etag')! };
  };
  const begin = async (body: Buffer) => {
    const u = await uploads.begin(
      alice,
      { fileName: 'f.csv', size: body.length, sha256: sha(body) },
      'http://x',
    );
    const first = await put(u.parts[0].url, body.subarray(0, 5 * MiB));
    expect(first.status).toBe(200);
    return { ...u, etags: [{ partNumber: 1, etag: first.etag }] };
  };
  const objects = async (prefix: string) =>
    ((await emu.s3.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix }))).Contents ?? []).map(
      (o) => o.Key,
    );
  const row = (id: string) => t.db.prisma.upload.findUnique({ where: { id } });

  it('aborts an abandoned multipart upload, deletes an unused completed object, leaves a live one', async () => {
    const abandoned = await begin(data);
    const live = await begin(data);
    const small = Buffer.from('id\n1\n');
    const unused = await uploads.begin(
      alice,
      { fileName: 's.csv', size: small.length, sha256: sha(small) },
      'http://x',
    );
    const part = await put(unused.parts[0].url, small);
    await uploads.complete(alice, unused.uploadId, [{ partNumber: 1, etag: part.etag }]);
    expect(await objects(unused.key)).toEqual([unused.key]);
    await expire(t, abandoned.uploadId, GRACE_MS + 60_000);
    await expire(t, unused.uploadId, GRACE_MS + 60_000);

    expect(await uploads.sweepExpired()).toEqual({ aborted: 1, removed: 1, failed: 0 });

    expect(await row(abandoned.uploadId)).toBeNull();
    expect(await row(unused.uploadId)).toBeNull();
    expect(await objects(unused.key)).toEqual([]);
    // S3 no longer knows the abandoned upload: its parts are gone.
    const storeUploadId = new URL(abandoned.parts[1].url).searchParams.get('uploadId')!;
    await expect(
      emu.s3.send(
        new UploadPartCommand({
          Bucket: bucket,
          Key: abandoned.key,
          UploadId: storeUploadId,
          PartNumber: 2,
          Body: Buffer.from('x'),
        }),
      ),
    ).rejects.toMatchObject({ name: 'NoSuchUpload' });
    // The live one completes.
    const second = await put(live.parts[1].url, data.subarray(5 * MiB));
    expect(second.status).toBe(200);
    await uploads.complete(alice, live.uploadId, [...live.etags, { partNumber: 2, etag: second.etag }]);
    expect(await objects(live.key)).toEqual([live.key]);
  });

  it('needs the SHA-256 from the client: S3 never shows the API the bytes (400, upload kept)', async () => {
    const small = Buffer.from('id\n1\n');
    const u = await uploads.begin(alice, { fileName: 's.csv', size: small.length }, 'http://x');
    const part = await put(u.parts[0].url, small);
    const parts = [{ partNumber: 1, etag: part.etag }];
    await expect(uploads.complete(alice, u.uploadId, parts)).rejects.toThrow(/sha256 is required/);
    expect(await objects(u.key)).toEqual([]);
    await uploads.complete(alice, u.uploadId, parts, sha(small));
    expect(await row(u.uploadId)).toMatchObject({ status: 'COMPLETED', sha256: sha(small) });
  });

  it('treats an upload S3 already forgot (aborted elsewhere) as swept', async () => {
    const gone = await begin(data);
    await new S3BlobStore({ client: emu.s3, bucket }).abort(gone.key, {
      storeUploadId: new URL(gone.parts[0].url).searchParams.get('uploadId'),
    });
    await expire(t, gone.uploadId, GRACE_MS + 60_000);
    expect(await uploads.sweepExpired()).toEqual({ aborted: 1, removed: 0, failed: 0 });
    expect(await row(gone.uploadId)).toBeNull();
  });
});

describe('startUploadSweeper', () => {
  it('sweeps on a timer, survives a failed sweep, and stop() waits for the sweep in progress', async () => {
    const calls: number[] = [];
    let release!: () => void;
    let third!: () => void;
    const thirdStarted = new Promise<void>((r) => (third = r));
    const uploads = {
      async sweepExpired(): Promise<SweepResult> {
        calls.push(Date.now());
        if (calls.length === 1) throw new Error('database away');
        if (calls.length === 3) {
          third();
          await new Promise<void>((r) => (release = r));
        }
        return { aborted: 1, removed: 0, failed: 0 };
      },
    };
    const logged: string[] = [];
    const logger = pino({ level: 'info' }, { write: (line: string) => logged.push(JSON.parse(line).msg) });
    const sweeper = startUploadSweeper({ uploads, intervalMs: 10, logger });
    await thirdStarted;
    let stopped = false;
    const stopping = sweeper.stop().then(() => (stopped = true));
    await new Promise((r) => setImmediate(r));
    expect(stopped).toBe(false); // the third sweep is still running
    release();
    await stopping;
    expect(calls).toHaveLength(3); // and none after stop()
    expect(logged).toEqual([
      'sweeping expired uploads failed; retrying later',
      'swept expired uploads',
      'swept expired uploads',
    ]);
  });
});
