import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from '@jest/globals';
import { MAX_ERROR_CHARS, MAX_LOG_DATA_BYTES, MAX_RESULT_BYTES } from '../../core/jobs/limits.js';
import { dbKinds } from '../helpers/db.js';
import { api, startTestServer, waitForJob, type TestServer } from '../helpers/api-server.js';

/**
 * Issue 14, item 1, at the API: after jobs with hostile inputs, a list page stays small. Was 35 MB
 * for GET /api/jobs?limit=100 after one dup.csv job.
 */
describe.each(dbKinds())('bounded sizes at the API on %s', (kind) => {
  let s: TestServer;
  let alice: string;

  beforeAll(async () => {
    s = await startTestServer(kind, { maxUploadBytes: 4 * 1024 * 1024 });
    s.startWorker();
  });
  afterAll(async () => {
    await s.close();
  });
  beforeEach(async () => {
    await s.reset();
    alice = await s.token('alice');
  });

  /** Bytes of a GET's body as sent. */
  async function bodyBytes(p: string): Promise<number> {
    const res = await fetch(s.url + p, { headers: { authorization: `Bearer ${alice}` } });
    expect(res.status).toBe(200);
    return (await res.arrayBuffer()).byteLength;
  }

  it('GET /api/jobs?limit=100 stays small after a dup.csv job', async () => {
    // python3 -c "print(','.join(['a']*1000000));print(1)" > dup.csv
    const dup = `${Array.from({ length: 1_000_000 }, () => 'a').join(',')}\n1\n`;
    const form = new FormData();
    form.append('type', 'csv-import');
    form.append('file', new Blob([dup]), 'dup.csv');
    const created = await api(s.url, alice, 'POST', '/api/jobs', form);
    expect(created.status).toBe(201);
    const id = created.body.id as string;
    const job = await waitForJob(s.url, alice, id, 120_000);
    expect(job.status).toBe('FAILED');
    expect(job.error).toMatch(/ and 999989 more$/);
    expect(job.result).toMatchObject({ columnCount: 1_000_000 });
    const size = await bodyBytes('/api/jobs?limit=100');
    expect(size).toBeLessThan(MAX_RESULT_BYTES + 2 * MAX_ERROR_CHARS);
    expect(await bodyBytes(`/api/jobs/${id}`)).toBeLessThan(MAX_RESULT_BYTES + 2 * MAX_ERROR_CHARS);
    expect(await bodyBytes(`/api/jobs/${id}/logs`)).toBeLessThan(32 * 1024);
  }, 180_000);

  it('bounds rows stored before the limits (or by an older processor) when it reads them', async () => {
    const owner = await s.t.db.prisma.user.findUniqueOrThrow({ where: { name: 'alice' } });
    const id = randomUUID();
    const huge = 'x'.repeat(1024 * 1024);
    await s.t.db.prisma.job.create({
      data: {
        id,
        type: 'csv-import',
        ownerId: owner.id,
        status: 'FAILED',
        error: huge,
        result: { columns: Array.from({ length: 20_000 }, (_, i) => `column ${i}`) },
        logs: { create: [{ seq: 1, level: 'warn', message: 'old', data: { errors: [huge] } }] },
      },
    });
    expect(await bodyBytes('/api/jobs?limit=100')).toBeLessThan(MAX_RESULT_BYTES + 2 * MAX_ERROR_CHARS);
    const { body: job } = await api(s.url, alice, 'GET', `/api/jobs/${id}`);
    expect(job.error).toBe(
      `${'x'.repeat(MAX_ERROR_CHARS)}… (${huge.length - MAX_ERROR_CHARS} more characters)`,
    );
    expect(job.result.columns.at(-1)).toMatch(/^… \(\d+ more items\)$/);
    const { body: logs } = await api(s.url, alice, 'GET', `/api/jobs/${id}/logs`);
    expect(Buffer.byteLength(JSON.stringify(logs.items[0].data))).toBeLessThanOrEqual(MAX_LOG_DATA_BYTES);
  });
});
