import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { Readable } from 'node:stream';
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CopyObjectCommand,
  CreateBucketCommand,
  CreateMultipartUploadCommand,
  DeleteBucketCommand,
  DeleteObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
  type S3ClientConfig,
  UploadPartCommand,
} from '@aws-sdk/client-s3';
import { afterAll, afterEach, beforeAll, describe, expect, it } from '@jest/globals';
import { mockClient } from 'aws-sdk-client-mock';
import { startEmulator } from '../../helpers/fauxqs.js';
import { S3BlobStore } from '../../../core/blobs/s3-blob-store.js';
import { PayloadTooLargeError } from '../../../core/errors.js';
import { describeBlobStore, digest, failingAfter, generated } from './blob-store-contract.js';
import { SSE_CASES } from './sse-cases.js';

const MiB = 1024 * 1024;
const big = { maxBytes: 5 * 1024 * MiB };

function s3At(endpoint: string, extra: Partial<S3ClientConfig> = {}): S3Client {
  return new S3Client({
    ...extra,
    endpoint,
    forcePathStyle: true,
    region: 'us-east-1',
    credentials: { accessKeyId: 'test', secretAccessKey: 'test' },
  });
}

let bucketSeq = 0;
async function freshBucket(client: S3Client): Promise<string> {
  const bucket = `jobs-test-${process.pid}-${++bucketSeq}`;
  await client.send(new CreateBucketCommand({ Bucket: bucket }));
  return bucket;
}

async function objectKeys(client: S3Client, bucket: string): Promise<string[]> {
  const keys: string[] = [];
  let ContinuationToken: string | undefined;
  do {
    const page = await client.send(new ListObjectsV2Command({ Bucket: bucket, ContinuationToken }));
    keys.push(...(page.Contents ?? []).map((o) => o.Key!));
    ContinuationToken = page.NextContinuationToken;
  } while (ContinuationToken);
  return keys.sort();
}

/**
 * fauxqs has no ListMultipartUploads (a `GET ?uploads` is answered as ListObjects), but it refuses
 * DeleteBucket while an upload is in progress. So an empty bucket that cannot be deleted holds a
 * pending multipart upload; one that can is recreated.
 */
async function hasPendingUploads(client: S3Client, bucket: string): Promise<boolean> {
  try {
    await client.send(new DeleteBucketCommand({ Bucket: bucket }));
  } catch (err) {
    if ((err as Error).name === 'BucketNotEmpty') return true;
    throw err;
  }
  await client.send(new CreateBucketCommand({ Bucket: bucket }));
  return false;
}

describe('S3BlobStore on fauxqs', () => {
  let emulator: Awaited<ReturnType<typeof startEmulator>>;
  let client: S3Client;

  beforeAll(async () => {
    emulator = await startEmulator();
    client = s3At(emulator.endpoint);
  });
  afterAll(async () => {
    client?.destroy();
    await emulator?.stop();
  });

  // The contract runs with a prefix, so the prefix handling is exercised by every case; list()
  // shows every key in the bucket (prefix stripped) plus any pending multipart upload.
  const prefix = 'tenant-a/';
  describeBlobStore('S3BlobStore', async () => {
    const bucket = await freshBucket(client);
    return {
      store: new S3BlobStore({ client, bucket, prefix }),
      list: async () => {
        const keys = (await objectKeys(client, bucket)).map((k) =>
          k.startsWith(prefix) ? k.slice(prefix.length) : k,
        );
        if (keys.length === 0 && (await hasPendingUploads(client, bucket)))
          return ['(pending multipart upload)'];
        return keys;
      },
      close: async () => {},
    };
  });

  it('stores under the prefix and records the sha256 as metadata, single-part and multipart', async () => {
    const bucket = await freshBucket(client);
    const store = new S3BlobStore({ client, bucket, prefix: 'p/' });
    const small = await store.put('inputs/u/small', generated(1000), big);
    const large = await store.put('inputs/u/large', generated(12 * MiB), big);
    expect(await objectKeys(client, bucket)).toEqual(['p/inputs/u/large', 'p/inputs/u/small']);
    for (const [key, stored] of [
      ['p/inputs/u/small', small],
      ['p/inputs/u/large', large],
    ] as const) {
      const head = await client.send(new HeadObjectCommand({ Bucket: bucket, Key: key }));
      expect(head.Metadata).toEqual({ sha256: stored.sha256 });
      expect(head.ContentLength).toBe(stored.size);
    }
    expect(await digest(await store.get('inputs/u/large'))).toEqual(large);
  });

  it('leaves neither object nor pending multipart upload when a multipart upload fails', async () => {
    const bucket = await freshBucket(client);
    const store = new S3BlobStore({ client, bucket });
    // The probe itself: an upload in progress is seen.
    const { UploadId } = await client.send(
      new CreateMultipartUploadCommand({ Bucket: bucket, Key: 'probe' }),
    );
    expect(await hasPendingUploads(client, bucket)).toBe(true);
    await client.send(new AbortMultipartUploadCommand({ Bucket: bucket, Key: 'probe', UploadId }));
    expect(await hasPendingUploads(client, bucket)).toBe(false);

    await expect(store.put('inputs/u/x', failingAfter(20 * MiB), big)).rejects.toThrow('client went away');
    const tooLarge = store.put('inputs/u/y', generated(30 * MiB), { maxBytes: 25 * MiB });
    await expect(tooLarge).rejects.toBeInstanceOf(PayloadTooLargeError);
    expect(await objectKeys(client, bucket)).toEqual([]);
    expect(await hasPendingUploads(client, bucket)).toBe(false);
  });

  it('fails check() with a one-line reason for a missing bucket', async () => {
    const store = new S3BlobStore({ client, bucket: 'no-such-bucket' });
    await expect(store.check()).rejects.toThrow(/^bucket no-such-bucket: not found$/);
  });

  it('rejects get() of a missing bucket with the S3 error, not NotFoundError', async () => {
    const store = new S3BlobStore({ client, bucket: 'no-such-bucket' });
    await expect(store.get('inputs/u/x')).rejects.toMatchObject({ name: 'NoSuchBucket' });
  });
});

/**
 * A stand-in S3 endpoint that drains and discards every body, answering just the calls a
 * multipart upload makes. The emulator would keep (and hash, and copy) all 200 MB; here only the
 * uploader's work is left, and it runs in a child process so only the uploader's memory is measured.
 */
const DISCARDING_S3 = `
  import http from 'node:http';
  let received = 0;
  const xml = (res, body) => { res.setHeader('content-type', 'application/xml'); res.end('<?xml version="1.0" encoding="UTF-8"?>' + body); };
  const server = http.createServer((req, res) => {
    const url = new URL(req.url, 'http://x');
    req.on('data', (chunk) => { received += chunk.length; });
    req.on('end', () => {
      if (url.pathname === '/__received') return res.end(String(received));
      if (req.method === 'POST' && url.searchParams.has('uploads')) return xml(res, '<InitiateMultipartUploadResult><UploadId>u1</UploadId></InitiateMultipartUploadResult>');
      if (req.method === 'POST') return xml(res, '<CompleteMultipartUploadResult><ETag>"e-1"</ETag></CompleteMultipartUploadResult>');
      if (req.method === 'PUT' && req.headers['x-amz-copy-source']) return xml(res, '<CopyObjectResult><ETag>"e"</ETag></CopyObjectResult>');
      res.setHeader('etag', '"e"');
      res.statusCode = req.method === 'DELETE' ? 204 : 200;
      res.end();
    });
  });
  server.listen(0, '127.0.0.1', () => process.stdout.write(server.address().port + '\\n'));
  process.stdin.resume();
  process.stdin.on('end', () => server.close(() => process.exit(0)));
`;

describe('S3BlobStore memory', () => {
  let child: ChildProcess;
  let endpoint: string;
  let client: S3Client;

  beforeAll(async () => {
    child = spawn(process.execPath, ['--input-type=module', '-e', DISCARDING_S3], {
      stdio: ['pipe', 'pipe', 'inherit'],
    });
    const [line] = (await once(child.stdout!, 'data')) as [Buffer];
    endpoint = `http://127.0.0.1:${line.toString().trim()}`;
    // CRC32 checksums in JavaScript would double this test's CPU time and measure nothing.
    client = s3At(endpoint, { requestChecksumCalculation: 'WHEN_REQUIRED' });
  });
  afterAll(async () => {
    client?.destroy();
    if (child && child.exitCode === null) {
      const exited = once(child, 'exit');
      child.stdin!.end();
      await exited;
    }
  });

  it('uploads 200 MB with default parts and bounded memory', async () => {
    const store = new S3BlobStore({ client, bucket: 'b' });
    const size = 200 * MiB;
    let i = 0;
    const body = new Readable({
      read() {
        // A fresh buffer per chunk, like a socket: nothing here is retained by the source.
        this.push(i * 64 * 1024 >= size ? null : Buffer.alloc(64 * 1024, i++ & 0xff));
      },
    });
    const before = process.memoryUsage().rss;
    let peak = before;
    const timer = setInterval(() => {
      peak = Math.max(peak, process.memoryUsage().rss);
    }, 10);
    try {
      const stored = await store.put('inputs/u/huge', body, big);
      expect(stored.size).toBe(size);
    } finally {
      clearInterval(timer);
    }
    peak = Math.max(peak, process.memoryUsage().rss);
    expect(Number(await (await fetch(`${endpoint}/__received`)).text())).toBeGreaterThanOrEqual(size);
    // Live data: 8 MiB parts × (4 in flight + 1 filling) ≈ 40 MiB; V8 lets about as much again of
    // spent chunks and parts wait for a GC (measured ~110 MiB in all). Buffering the body would
    // cost at least 200 MiB on its own.
    expect((peak - before) / MiB).toBeLessThan(150);
  });
});

describe('S3BlobStore requests (mocked client)', () => {
  // fauxqs does not record server-side encryption (HeadObject never returns it), so encryption is
  // asserted on the commands the store sends.
  const client = s3At('http://127.0.0.1:9');
  const s3 = mockClient(client);
  afterEach(() => {
    s3.reset();
  });
  afterAll(() => {
    s3.restore();
  });

  function acceptEverything(): void {
    s3.on(PutObjectCommand).resolves({});
    s3.on(CreateMultipartUploadCommand).resolves({ UploadId: 'u1' });
    s3.on(UploadPartCommand).resolves({ ETag: '"e"' });
    s3.on(CompleteMultipartUploadCommand).resolves({});
    s3.on(CopyObjectCommand).resolves({});
    s3.on(DeleteObjectCommand).resolves({});
  }

  it.each(SSE_CASES)('encrypts every object: %s', async (_name, opts, sse) => {
    acceptEverything();
    const store = new S3BlobStore({ client, bucket: 'b', partSize: 5 * MiB, ...opts });
    const small = await store.put('inputs/u/small', generated(10), big);
    const large = await store.put('inputs/u/large', generated(6 * MiB), big);

    const put = s3.commandCalls(PutObjectCommand);
    expect(put).toHaveLength(1);
    expect(put[0].args[0].input).toMatchObject({
      Key: 'inputs/u/small',
      Metadata: { sha256: small.sha256 },
      ...sse,
    });
    const create = s3.commandCalls(CreateMultipartUploadCommand);
    expect(create).toHaveLength(1);
    expect(create[0].args[0].input).toMatchObject({ Key: 'inputs/u/large', ...sse });
    const copy = s3.commandCalls(CopyObjectCommand);
    expect(copy).toHaveLength(1);
    expect(copy[0].args[0].input).toMatchObject({
      CopySource: 'b/inputs/u/large',
      Key: 'inputs/u/large',
      MetadataDirective: 'REPLACE',
      Metadata: { sha256: large.sha256 },
      ...sse,
    });
    if (!('kmsKeyId' in opts)) expect(put[0].args[0].input).not.toHaveProperty('SSEKMSKeyId');
  });

  it('aborts the multipart upload and rethrows the S3 error when a part fails', async () => {
    acceptEverything();
    const failure = Object.assign(new Error('We encountered an internal error.'), { name: 'InternalError' });
    s3.on(UploadPartCommand).rejects(failure);
    s3.on(AbortMultipartUploadCommand).resolves({});
    const store = new S3BlobStore({ client, bucket: 'b' });
    await expect(store.put('inputs/u/x', generated(20 * MiB), big)).rejects.toBe(failure);
    expect(s3.commandCalls(AbortMultipartUploadCommand).map((c) => c.args[0].input)).toEqual([
      { Bucket: 'b', Key: 'inputs/u/x', UploadId: 'u1' },
    ]);
    expect(s3.commandCalls(CompleteMultipartUploadCommand)).toHaveLength(0);
  });

  it('deletes the object again when attaching its checksum fails', async () => {
    acceptEverything();
    s3.on(CopyObjectCommand).rejects(new Error('copy failed'));
    const store = new S3BlobStore({ client, bucket: 'b' });
    await expect(store.put('inputs/u/x', generated(9 * MiB), big)).rejects.toThrow('copy failed');
    expect(s3.commandCalls(CompleteMultipartUploadCommand)).toHaveLength(1);
    expect(s3.commandCalls(DeleteObjectCommand).map((c) => c.args[0].input)).toEqual([
      { Bucket: 'b', Key: 'inputs/u/x' },
    ]);
  });

  it('rejects a part size below the S3 minimum', () => {
    expect(() => new S3BlobStore({ client, bucket: 'b', partSize: MiB })).toThrow(/partSize/);
  });
});
