import { afterAll, beforeAll, beforeEach, describe, expect, it } from '@jest/globals';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import busboy from 'busboy';
import { apiError, FakeApi, makeJob, sendJson } from './helpers/fake-api.js';
import { rssSampler, runCli, tempConfigHome, type RunOptions } from './helpers/run-cli.js';

/** `jobs submit FILE`: multipart streamed from disk with an exact Content-Length. */
const api = new FakeApi();
let configHome: string;
let dir: string;

const jobs = (args: string[], onSpawn?: RunOptions['onSpawn']) =>
  runCli(args, {
    // The multipart path at every size here (direct uploads: test/e2e/direct-upload.test.ts).
    env: {
      XDG_CONFIG_HOME: configHome,
      JOBS_API_URL: api.url,
      JOBS_TOKEN: 'tok',
      JOBS_DIRECT_UPLOAD_THRESHOLD: String(1024 ** 4),
    },
    onSpawn,
    timeoutMs: 60_000,
  });

beforeAll(async () => {
  await api.start();
  configHome = tempConfigHome();
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'jobs-upload-'));
});
afterAll(async () => {
  await api.close();
  fs.rmSync(configHome, { recursive: true, force: true });
  fs.rmSync(dir, { recursive: true, force: true });
});
beforeEach(() => api.reset());

interface Received {
  order: string[];
  fields: Record<string, string>;
  file?: { filename: string; mimeType: string; size: number; sha256: string };
  bytes: number;
  contentLength: number;
}

/** A POST /api/jobs that parses the multipart stream as it arrives (never buffering the file). */
function acceptUploads(onDone: (r: Received) => void) {
  api.on(
    'POST',
    '/api/jobs',
    (req, res, raw) => {
      const got: Received = {
        order: [],
        fields: {},
        bytes: 0,
        contentLength: Number(req.headers['content-length']),
      };
      raw.on('data', (c: Buffer) => (got.bytes += c.length));
      const bb = busboy({ headers: raw.headers, defParamCharset: 'utf8' });
      bb.on('field', (name, value) => {
        got.order.push(name);
        got.fields[name] = value;
      });
      bb.on('file', (name, stream, info) => {
        got.order.push(name);
        const hash = createHash('sha256');
        let size = 0;
        stream.on('data', (c: Buffer) => {
          size += c.length;
          hash.update(c);
        });
        stream.on('end', () => {
          got.file = {
            filename: info.filename ?? '',
            mimeType: info.mimeType,
            size,
            sha256: hash.digest('hex'),
          };
        });
      });
      bb.on('close', () => {
        onDone(got);
        sendJson(
          res,
          201,
          makeJob({
            type: got.fields.type,
            input: got.file
              ? { name: got.file.filename, size: got.file.size, sha256: got.file.sha256 }
              : null,
          }),
        );
      });
      raw.pipe(bb);
    },
    { raw: true },
  );
}

describe('submit FILE', () => {
  it('sends type, params, then the file, with Content-Length equal to the bytes sent', async () => {
    const file = path.join(dir, 'orders.csv');
    const content = 'order_id,customer_email,quantity\n1,a@example.com,2\n2,b@example.com,x\n';
    fs.writeFileSync(file, content);
    let got: Received | undefined;
    acceptUploads((r) => (got = r));
    const r = await jobs([
      'submit',
      file,
      '--type',
      'csv-import',
      '--param',
      'maxErrors=1',
      '--params-json',
      '{"required":["customer_email"]}',
    ]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^[0-9a-f-]{36}\n$/);
    expect(r.stderr).toBe(''); // no progress bar when stderr is not a TTY
    expect(got!.order).toEqual(['type', 'params', 'file']);
    expect(got!.fields.type).toBe('csv-import');
    expect(JSON.parse(got!.fields.params)).toEqual({ required: ['customer_email'], maxErrors: 1 });
    expect(got!.file).toEqual({
      filename: 'orders.csv',
      mimeType: 'text/csv',
      size: content.length,
      sha256: createHash('sha256').update(content).digest('hex'),
    });
    expect(got!.contentLength).toBe(got!.bytes);
    const req = api.requests[0];
    expect(req.headers['content-type']).toMatch(/^multipart\/form-data; boundary=/);
    expect(req.headers.authorization).toBe('Bearer tok');
  });

  /** Runs an upload of `file` and samples the CLI's resident memory (Linux /proc) while it runs. */
  async function uploadMeasuringRss(
    file: string,
  ): Promise<{ maxRss: number; code: number | null; stdout: string }> {
    const rss = rssSampler();
    const r = await jobs(['submit', file, '--type', 'csv-import', '--json'], rss.onSpawn);
    return { maxRss: rss.stop(), code: r.code, stdout: r.stdout };
  }

  (process.platform === 'linux' ? it : it.skip)(
    'streams a large file from disk: memory stays well below its size',
    async () => {
      const small = path.join(dir, 'small.csv');
      fs.writeFileSync(small, 'a,b\n1,2\n');
      // A sparse file: no disk space used, still read byte by byte.
      const size = 400 * 1024 * 1024;
      const big = path.join(dir, 'big.bin');
      fs.closeSync(fs.openSync(big, 'w'));
      fs.truncateSync(big, size);

      let got: Received | undefined;
      acceptUploads((r) => (got = r));
      const baseline = await uploadMeasuringRss(small);
      expect(baseline.code).toBe(0);

      const r = await uploadMeasuringRss(big);
      expect(r.code).toBe(0);
      expect(got!.file!.size).toBe(size);
      expect(got!.contentLength).toBe(got!.bytes);
      expect(JSON.parse(r.stdout).input.size).toBe(size);
      // Node's baseline is ~70 MB; garbage chunks awaiting GC add some tens of MB, never the file.
      expect(r.maxRss - baseline.maxRss).toBeLessThan(100 * 1024 * 1024);
      expect(r.maxRss).toBeLessThan(size / 2);
    },
  );

  it("reports the API's answer when it refuses the upload without reading it", async () => {
    const file = path.join(dir, 'too-big.bin');
    fs.closeSync(fs.openSync(file, 'w'));
    fs.truncateSync(file, 32 * 1024 * 1024);
    api.on(
      'POST',
      '/api/jobs',
      (_req, res) => {
        res.setHeader('connection', 'close');
        apiError(res, 413, 'payload_too_large', 'the upload is larger than the 1 MiB limit');
      },
      { raw: true, continue: false },
    );
    const r = await jobs(['submit', file, '--type', 'csv-import']);
    expect(r.code).toBe(1);
    expect(r.stderr.trim()).toBe('the upload is larger than the 1 MiB limit');
  });

  it('rejects a directory as FILE (exit 2)', async () => {
    const r = await jobs(['submit', dir, '--type', 'csv-import']);
    expect(r.code).toBe(2);
    expect(r.stderr.trim()).toBe(`${dir} is not a file`);
    expect(api.requests).toHaveLength(0);
  });
});
