import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { text } from 'node:stream/consumers';
import {
  CreateMultipartUploadCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  S3Client,
} from '@aws-sdk/client-s3';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from '@jest/globals';
import { mockClient } from 'aws-sdk-client-mock';
import { checkedInput, partLength } from '../../../core/blobs/multipart-uploads.js';
import { S3BlobStore } from '../../../core/blobs/s3-blob-store.js';
import { ValidationError } from '../../../core/errors.js';
import type { ApiClient } from '../../../cli/lib/api-client.js';
import { directUpload } from '../../../cli/lib/direct-upload.js';
import { startEmulator, type Emulator } from '../../helpers/fauxqs.js';
import { startSigV4Proxy, type SigV4Proxy } from '../../helpers/sigv4-proxy.js';
import { SSE_CASES } from './sse-cases.js';

const MiB = 1024 * 1024;

function bytes(n: number, seed = 1): Buffer {
  const b = Buffer.alloc(n);
  for (let i = 0; i < n; i++) b[i] = (i * 31 + seed) & 0xff;
  return b;
}

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

async function sendParts(parts: { partNumber: number; url: string }[], data: Buffer, partSize: number) {
  return Promise.all(
    parts.map(async (p) => {
      // Presigned URLs: no credentials of our own, exactly as the CLI sends them.
      const res = await fetch(p.url, {
        method: 'PUT',
        body: new Blob([data.subarray((p.partNumber - 1) * partSize, p.partNumber * partSize) as BlobPart]),
      });
      expect(res.status).toBe(200);
      await res.arrayBuffer();
      return { partNumber: p.partNumber, etag: res.headers.get('etag')! };
    }),
  );
}

describe('S3BlobStore direct uploads (fauxqs)', () => {
  let emu: Emulator;
  let store: S3BlobStore;
  let bucket: string;

  beforeAll(async () => {
    emu = await startEmulator();
    bucket = await emu.createBucket('direct-uploads');
    store = new S3BlobStore({ client: emu.s3, bucket, partSize: 5 * MiB });
  });
  afterAll(async () => {
    await emu.stop();
  });

  const opts = (size: number, uploadId: string) => ({
    uploadId,
    size,
    partSize: store.partSizeFor(size),
    expiresAt: new Date(Date.now() + 3600_000),
    apiBaseUrl: 'http://unused',
  });

  it('begins, takes presigned parts, completes with the declared size', async () => {
    const data = bytes(12 * MiB + 123);
    const o = opts(data.length, 'u1');
    expect(o.partSize).toBe(5 * MiB);
    const begun = await store.begin('inputs/a/u1', o);
    expect(begun.storeUploadId).toEqual(expect.any(String));
    expect(begun.parts.map((p) => p.partNumber)).toEqual([1, 2, 3]);
    expect(begun.parts[0].url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/.*X-Amz-Signature=/);

    const parts = await sendParts(begun.parts, data, o.partSize);
    const done = await store.complete('inputs/a/u1', {
      uploadId: 'u1',
      storeUploadId: begun.storeUploadId,
      parts,
      size: data.length,
      sha256: sha(data),
    });
    expect(done).toEqual({ size: data.length, sha256: null });
    const head = await emu.s3.send(new HeadObjectCommand({ Bucket: bucket, Key: 'inputs/a/u1' }));
    expect(head.ContentLength).toBe(data.length);
    const back = await store.get('inputs/a/u1');
    const h = createHash('sha256');
    for await (const c of back) h.update(c as Buffer);
    expect(h.digest('hex')).toBe(sha(data));
  });

  it('refuses (400) and deletes an object that is not the declared size', async () => {
    const data = bytes(6 * MiB);
    const o = opts(data.length + 5, 'u2');
    const begun = await store.begin('inputs/a/u2', o);
    const parts = await sendParts(begun.parts, data, o.partSize);
    await expect(
      store.complete('inputs/a/u2', {
        uploadId: 'u2',
        storeUploadId: begun.storeUploadId,
        parts,
        size: data.length + 5,
        sha256: sha(data),
      }),
    ).rejects.toBeInstanceOf(ValidationError);
    const list = await emu.s3.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: 'inputs/a/u2' }));
    expect(list.Contents ?? []).toEqual([]);
  });

  it('grows parts so no upload needs more than 10,000', () => {
    expect(store.partSizeFor(100 * 1024 * MiB)).toBeGreaterThanOrEqual(
      Math.ceil((100 * 1024 * MiB) / 10_000),
    );
  });
});

describe('S3 part URLs hold exactly one part (signatures checked as S3 does)', () => {
  // fauxqs accepts any signature: a proxy in front of it checks SigV4 on presigned requests.
  let emu: Emulator;
  let proxy: SigV4Proxy;
  let client: S3Client;
  let store: S3BlobStore;
  let bucket: string;
  const data = bytes(11 * MiB + 17, 7); // parts of 5, 5 and 1 MiB + 17 bytes

  beforeAll(async () => {
    emu = await startEmulator();
    bucket = await emu.createBucket('signed-parts');
    const credentials = { accessKeyId: 'test', secretAccessKey: 'test' };
    proxy = await startSigV4Proxy(emu.endpoint, credentials);
    client = new S3Client({
      region: 'us-east-1',
      endpoint: proxy.endpoint,
      forcePathStyle: true,
      credentials,
    });
    store = new S3BlobStore({ client, bucket, partSize: 5 * MiB });
  });
  afterAll(async () => {
    client.destroy();
    await proxy.close();
    await emu.stop();
  });

  const begin = (key: string) =>
    store.begin(key, {
      uploadId: key,
      size: data.length,
      partSize: 5 * MiB,
      expiresAt: new Date(Date.now() + 3600_000),
      apiBaseUrl: 'http://unused',
    });
  const put = async (url: string, body: Buffer) => {
    const res = await fetch(url, { method: 'PUT', body: new Blob([body as BlobPart]) });
    return { status: res.status, etag: res.headers.get('etag'), text: await res.text() };
  };

  it('signs content-length, and pins no checksum of an empty body', async () => {
    const { parts } = await begin('inputs/a/signed');
    for (const p of parts) {
      const q = new URL(p.url).searchParams;
      expect(q.get('X-Amz-SignedHeaders')!.split(';')).toContain('content-length');
      expect([...q.keys()].filter((k) => /checksum/i.test(k))).toEqual([]);
    }
  });

  it('takes a part of exactly its length, refuses one byte more or less', async () => {
    const { parts } = await begin('inputs/a/lengths');
    const [first, , last] = parts;
    const own = data.subarray(0, 5 * MiB);
    expect((await put(first.url, Buffer.concat([own, Buffer.from('x')]))).status).toBe(403);
    expect((await put(first.url, own.subarray(1))).status).toBe(403);
    // The last part is shorter: the whole 5 MiB share of an earlier part does not fit it either.
    expect((await put(last.url, own)).status).toBe(403);
    expect(proxy.refused.map((r) => r.code)).toEqual(Array(3).fill('SignatureDoesNotMatch'));
    const ok = await put(first.url, own);
    expect(ok).toMatchObject({ status: 200, etag: expect.any(String) });
    const tail = data.subarray(10 * MiB);
    expect(tail.length).toBe(partLength(data.length, 5 * MiB, 3));
    expect((await put(last.url, tail)).status).toBe(200);
  });

  it("the CLI's uploader sends each part with exactly its signed length", async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'jobs-signed-'));
    try {
      const file = path.join(dir, 'big.csv');
      fs.writeFileSync(file, data);
      const refusedBefore = proxy.refused.length;
      const key = 'inputs/a/cli';
      let storeUploadId = '';
      // The two API calls answered by the store itself; the parts go from the CLI's code to "S3".
      const api = {
        async beginUpload(input: { size: number }) {
          const begun = await store.begin(key, {
            uploadId: 'cli',
            size: input.size,
            partSize: 5 * MiB,
            expiresAt: new Date(Date.now() + 3600_000),
            apiBaseUrl: 'http://unused',
          });
          storeUploadId = begun.storeUploadId;
          return {
            uploadId: 'cli',
            key,
            partSize: 5 * MiB,
            parts: begun.parts,
            expiresAt: '',
            sequential: store.hashesPartsInOrder,
          };
        },
        async completeUpload(
          uploadId: string,
          parts: { partNumber: number; etag: string }[],
          sha256: string,
        ) {
          // The CLI hashed the file beside the parts and declares it here.
          expect(sha256).toBe(sha(data));
          await store.complete(key, { uploadId, storeUploadId, parts, size: data.length, sha256 });
          return { uploadId, size: data.length, status: 'COMPLETED' };
        },
      } as unknown as ApiClient;
      const id = await directUpload(api, { file, fileName: 'big.csv', size: data.length });
      expect(id).toBe('cli');
      expect(proxy.refused.length).toBe(refusedBefore);
      const head = await emu.s3.send(new HeadObjectCommand({ Bucket: bucket, Key: key }));
      expect(head.ContentLength).toBe(data.length);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('S3BlobStore direct uploads (mocked client)', () => {
  // fauxqs does not record server-side encryption, so it is asserted on the command sent.
  const client = new S3Client({
    region: 'us-east-1',
    endpoint: 'http://127.0.0.1:9',
    forcePathStyle: true,
    credentials: { accessKeyId: 'test', secretAccessKey: 'test' },
  });
  const s3 = mockClient(client);
  afterEach(() => {
    s3.reset();
  });
  afterAll(() => {
    s3.restore();
    client.destroy();
  });

  it.each(SSE_CASES)('encrypts the multipart upload: %s', async (_name, extra, sse) => {
    s3.on(CreateMultipartUploadCommand).resolves({ UploadId: 'up-1' });
    const store = new S3BlobStore({ client, bucket: 'b', ...extra });
    const begun = await store.begin('inputs/u/x', {
      uploadId: 'x',
      size: 20 * MiB,
      partSize: 8 * MiB,
      expiresAt: new Date(Date.now() + 3600_000),
      apiBaseUrl: 'http://unused',
    });
    expect(begun.storeUploadId).toBe('up-1');
    expect(begun.parts).toHaveLength(3);
    const calls = s3.commandCalls(CreateMultipartUploadCommand);
    expect(calls).toHaveLength(1);
    expect(calls[0].args[0].input).toEqual({ Bucket: 'b', Key: 'inputs/u/x', ...sse });
    // The part URLs are presigned UploadPart requests for that upload, valid for about the TTL.
    const url = new URL(begun.parts[2].url);
    expect(url.searchParams.get('partNumber')).toBe('3');
    expect(url.searchParams.get('uploadId')).toBe('up-1');
    expect(Number(url.searchParams.get('X-Amz-Expires'))).toBeGreaterThan(3500);
  });
});

describe('checkedInput (the processor reading a direct upload)', () => {
  it('passes matching bytes and fails a mismatch at the end', async () => {
    const data = Buffer.from('id\n1\n');
    expect(await text(checkedInput(Readable.from([data]), sha(data)))).toBe('id\n1\n');
    await expect(text(checkedInput(Readable.from([data]), 'b'.repeat(64)))).rejects.toThrow(/SHA-256/);
  });
});
