import { afterAll, describe, expect, it } from '@jest/globals';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import busboy from 'busboy';
import { buildMultipart, contentTypeFor } from '../../cli/lib/multipart.js';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'jobs-multipart-'));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

async function collect(stream: ReadableStream<Uint8Array>): Promise<Buffer> {
  const chunks: Buffer[] = [];
  const reader = stream.getReader();
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    chunks.push(Buffer.from(value));
  }
  return Buffer.concat(chunks);
}

interface Parsed {
  order: string[];
  fields: Record<string, string>;
  files: Record<string, { filename: string; mimeType: string; data: Buffer }>;
}

function parse(contentType: string, body: Buffer): Promise<Parsed> {
  return new Promise((resolve, reject) => {
    const out: Parsed = { order: [], fields: {}, files: {} };
    const bb = busboy({ headers: { 'content-type': contentType }, defParamCharset: 'utf8' });
    bb.on('field', (name, value) => {
      out.order.push(name);
      out.fields[name] = value;
    });
    bb.on('file', (name, stream, info) => {
      out.order.push(name);
      const chunks: Buffer[] = [];
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('end', () => {
        out.files[name] = {
          filename: info.filename ?? '',
          mimeType: info.mimeType,
          data: Buffer.concat(chunks),
        };
      });
    });
    bb.on('close', () => resolve(out));
    bb.on('error', reject);
    Readable.from([body]).pipe(bb);
  });
}

describe('buildMultipart', () => {
  it('encodes fields then the file, in order, with an exact Content-Length', async () => {
    const file = path.join(dir, 'orders.csv');
    const content = 'order_id,qty\r\n1,2\r\n"quoted\r\nfield",3\r\n--not-a-boundary\r\n';
    fs.writeFileSync(file, content);
    const progress: number[] = [];
    const body = buildMultipart(
      [
        { name: 'type', value: 'csv-import' },
        { name: 'params', value: JSON.stringify({ maxErrors: 0, sep: 'é' }) },
        { name: 'file', filename: 'orders.csv', path: file, size: fs.statSync(file).size },
      ],
      { onProgress: (sent) => progress.push(sent), chunkSize: 8 },
    );
    const bytes = await collect(body.stream());
    expect(bytes.length).toBe(body.contentLength);
    expect(body.contentType).toBe(`multipart/form-data; boundary=${body.boundary}`);
    expect(progress.at(-1)).toBe(body.contentLength);
    expect(progress).toEqual([...progress].sort((a, b) => a - b));

    const parsed = await parse(body.contentType, bytes);
    expect(parsed.order).toEqual(['type', 'params', 'file']);
    expect(parsed.fields).toEqual({ type: 'csv-import', params: '{"maxErrors":0,"sep":"é"}' });
    expect(parsed.files.file.filename).toBe('orders.csv');
    expect(parsed.files.file.mimeType).toBe('text/csv');
    expect(parsed.files.file.data.toString()).toBe(content);
  });

  it('gives a fresh stream each time and handles an empty file', async () => {
    const file = path.join(dir, 'empty.bin');
    fs.writeFileSync(file, '');
    const body = buildMultipart([{ name: 'file', filename: 'empty.bin', path: file, size: 0 }]);
    const a = await collect(body.stream());
    const b = await collect(body.stream());
    expect(a.equals(b)).toBe(true);
    expect(a.length).toBe(body.contentLength);
    const parsed = await parse(body.contentType, a);
    expect(parsed.files.file.data.length).toBe(0);
    expect(parsed.files.file.mimeType).toBe('application/octet-stream');
  });

  it('streams a large file in chunks with the right bytes', async () => {
    const file = path.join(dir, 'big.bin');
    const data = Buffer.alloc(3 * 1024 * 1024 + 17);
    for (let i = 0; i < data.length; i++) data[i] = (i * 31) & 0xff;
    fs.writeFileSync(file, data);
    const body = buildMultipart([{ name: 'file', filename: 'big.bin', path: file, size: data.length }]);
    const bytes = await collect(body.stream());
    expect(bytes.length).toBe(body.contentLength);
    const parsed = await parse(body.contentType, bytes);
    const hash = (b: Buffer) => createHash('sha256').update(b).digest('hex');
    expect(hash(parsed.files.file.data)).toBe(hash(data));
  });

  it('keeps a non-ASCII or quoted filename readable', async () => {
    const file = path.join(dir, 'x.csv');
    fs.writeFileSync(file, 'a\n');
    const body = buildMultipart([{ name: 'file', filename: 'commandes "é".csv', path: file, size: 2 }]);
    const parsed = await parse(body.contentType, await collect(body.stream()));
    expect(parsed.files.file.filename).toBe('commandes "é".csv');
  });

  it('fails rather than send a body that does not match its Content-Length', async () => {
    const file = path.join(dir, 'shrunk.csv');
    fs.writeFileSync(file, 'abc');
    const body = buildMultipart([{ name: 'file', filename: 'shrunk.csv', path: file, size: 10 }]);
    await expect(collect(body.stream())).rejects.toThrow(/changed while it was being uploaded/);
  });

  it('maps common extensions to content types', () => {
    expect(contentTypeFor('a.CSV')).toBe('text/csv');
    expect(contentTypeFor('a.json')).toBe('application/json');
    expect(contentTypeFor('a')).toBe('application/octet-stream');
  });
});
