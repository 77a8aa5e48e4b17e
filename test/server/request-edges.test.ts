import { createHash } from 'node:crypto';
import { Writable } from 'node:stream';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from '@jest/globals';
import { pino } from 'pino';
import { redactUrl } from '../../server/redact-url.js';
import { api, filesUnder, startTestServer, type TestServer } from '../helpers/api-server.js';
import { dbKinds } from '../helpers/db.js';

const csv = 'id,n\n1,2\n';

/** Every line the server logs, parsed. */
class LogCapture extends Writable {
  readonly lines: Record<string, unknown>[] = [];
  text = '';
  override _write(chunk: Buffer, _enc: BufferEncoding, done: () => void): void {
    this.text += chunk.toString();
    for (const line of chunk.toString().split('\n').filter(Boolean)) this.lines.push(JSON.parse(line));
    done();
  }
}

describe.each(dbKinds())('request edges on %s', (kind) => {
  let s: TestServer;
  let alice: string;
  const log = new LogCapture();

  beforeAll(async () => {
    s = await startTestServer(kind, { logger: pino({ level: 'info' }, log), partSize: 5 * 1024 * 1024 });
  });
  afterAll(async () => {
    await s.close();
  });
  beforeEach(async () => {
    await s.reset();
    alice = await s.token('alice');
  });

  describe('csv-import types with reserved keys', () => {
    for (const key of ['__proto__', 'constructor', 'prototype']) {
      it(`refuses types {"${key}": "integer"} with a 400 naming the field, as JSON and multipart`, async () => {
        // Raw JSON text: an object literal's "__proto__" would set the prototype, not a key.
        const params = `{"types":{"${key}":"integer"}}`;
        const multipart = new FormData();
        multipart.append('type', 'csv-import');
        multipart.append('params', params);
        multipart.append('file', new Blob([csv]), 'a.csv');
        const asForm = await api(s.url, alice, 'POST', '/api/jobs', multipart);
        const asJson = await api(
          s.url,
          alice,
          'POST',
          '/api/jobs',
          `{"type":"csv-import","params":${params}}`,
        );
        for (const res of [asForm, asJson]) {
          expect(res.status).toBe(400);
          expect(res.body.error.code).toBe('validation_failed');
          expect(res.body.error.message).toBe(
            `params.types.${key}: "${key}" cannot be a column name in types (reserved: __proto__, constructor, prototype)`,
          );
        }
        expect(await s.t.db.prisma.job.count()).toBe(0);
        expect(filesUnder(s.blobsDir).filter((f) => !f.endsWith('.upload-secret'))).toEqual([]);
      });
    }

    it('still takes ordinary column names, __proto__-like ones included', async () => {
      const multipart = new FormData();
      multipart.append('type', 'csv-import');
      multipart.append('params', '{"types":{"n":"integer","proto":"string","__proto":"string"}}');
      multipart.append('file', new Blob(['n,proto,__proto\n1,a,b\n']), 'a.csv');
      const ok = await api(s.url, alice, 'POST', '/api/jobs', multipart);
      expect(ok.status).toBe(201);
      expect(ok.body.params.types).toEqual({ n: 'integer', proto: 'string', __proto: 'string' });
    });
  });

  describe('the request log', () => {
    it('never carries a part URL’s signature, nor credential query parameters', async () => {
      const data = Buffer.from(csv);
      const begun = await api(s.url, alice, 'POST', '/api/uploads', {
        fileName: 'a.csv',
        size: data.length,
        sha256: createHash('sha256').update(data).digest('hex'),
      });
      expect(begun.status).toBe(201);
      const partUrl = new URL(begun.body.parts[0].url);
      const signature = partUrl.searchParams.get('signature')!;
      expect(signature).toMatch(/^[0-9a-f]{16,}$/);
      const from = log.lines.length;
      expect((await fetch(partUrl, { method: 'PUT', body: data })).status).toBe(200);
      // A bad signature is refused, and its (forged) value is not logged either.
      const forged = new URL(partUrl);
      forged.searchParams.set('signature', 'f'.repeat(64));
      expect((await fetch(forged, { method: 'PUT', body: data })).status).toBe(403);
      const other = await fetch(
        `${s.url}/api/jobs?X-Amz-Signature=s3cr3t1&sig=s3cr3t2&token=s3cr3t3&limit=5`,
        {
          headers: { authorization: `Bearer ${alice}` },
        },
      );
      expect(other.status).toBe(200);

      const logged = log.lines.slice(from).filter((l) => l.req);
      const urls = logged.map((l) => (l.req as { url: string }).url);
      expect(urls).toEqual([
        `${partUrl.pathname}?expires=${partUrl.searchParams.get('expires')}&signature=[REDACTED]`,
        `${partUrl.pathname}?expires=${partUrl.searchParams.get('expires')}&signature=[REDACTED]`,
        '/api/jobs?X-Amz-Signature=[REDACTED]&sig=[REDACTED]&token=[REDACTED]&limit=5',
      ]);
      for (const secret of [signature, 'f'.repeat(64), 's3cr3t1', 's3cr3t2', 's3cr3t3', alice]) {
        expect(log.text).not.toContain(secret);
      }
    });
  });
});

describe('redactUrl', () => {
  it('redacts credential parameters by name, in any case and encoding, and leaves the rest', () => {
    expect(redactUrl('/api/jobs')).toBe('/api/jobs');
    expect(redactUrl('/api/jobs?limit=5&all=true')).toBe('/api/jobs?limit=5&all=true');
    expect(redactUrl('/p?x-amz-signature=a&X-Amz-Credential=b&X-Amz-Security-Token=c&X-Amz-Date=d')).toBe(
      '/p?x-amz-signature=[REDACTED]&X-Amz-Credential=[REDACTED]&X-Amz-Security-Token=[REDACTED]&X-Amz-Date=d',
    );
    expect(redactUrl('/p?%73ignature=a&access_token=b&TOKEN&q=1#frag')).toBe(
      '/p?%73ignature=[REDACTED]&access_token=[REDACTED]&TOKEN=[REDACTED]&q=1#frag',
    );
    expect(redactUrl('/p?%zz=1&sig=2')).toBe('/p?%zz=1&sig=[REDACTED]');
  });
});
