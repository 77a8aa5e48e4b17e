import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from '@jest/globals';
import { FsBlobStore } from '../../core/blobs/fs-blob-store.js';
import { toJobDto } from '../../core/jobs/job-dto.js';
import {
  MAX_ERROR_CHARS,
  MAX_LOG_DATA_BYTES,
  MAX_LOG_MESSAGE_CHARS,
  MAX_RESULT_BYTES,
} from '../../core/jobs/limits.js';
import { JobStore } from '../../core/jobs/job-store.js';
import type { JobQueue } from '../../core/queue/job-queue.js';
import { JobLogWriter } from '../../processor/job-log-writer.js';
import { toRecord } from '../../processor/queue-worker.js';
import { openTestDatabase, type TestDatabase } from '../helpers/db.js';
import { composeForTest, type TestPlatform } from '../helpers/platform.js';

/**
 * Issue 14, item 1: what a job stores is bounded whatever its input. Through the real processor
 * (claim, handler, log writer, final write), on a real database.
 */
describe('bounded job sizes through the processor', () => {
  let t: TestDatabase;
  let platform: TestPlatform;
  let queue: JobQueue;
  let jobStore: JobStore;
  let dir: string;
  let store: FsBlobStore;
  const ownerId = randomUUID();

  beforeAll(async () => {
    t = await openTestDatabase('pglite');
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'jobs-bounded-'));
    store = new FsBlobStore(dir);
    platform = await composeForTest(t, { blobs: store, config: { visibilityTimeoutSeconds: 60 } });
    queue = platform.api.queue;
    jobStore = platform.api.store;
  });
  afterAll(async () => {
    await platform.dispose();
    await t.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });
  beforeEach(async () => {
    await t.reset();
    await t.db.prisma.user.create({ data: { id: ownerId, name: 'owner' } });
  });

  /** Runs a csv-import job of `csv` to its end; returns the row. */
  async function runCsvJob(csv: string, params: unknown = {}) {
    const id = randomUUID();
    const key = `inputs/${ownerId}/${id}`;
    const stored = await store.put(key, Readable.from([Buffer.from(csv)]), { maxBytes: 64 * 1024 * 1024 });
    await t.db.prisma.job.create({
      data: {
        id,
        type: 'csv-import',
        ownerId,
        params: params as object,
        maxAttempts: 1,
        inputKey: key,
        inputName: 'big.csv',
        inputSize: stored.size,
        inputSha256: stored.sha256,
      },
    });
    await queue.send(id);
    const [message] = await queue.receive({ max: 1, waitMs: 1000 });
    await platform.processor({ Records: [toRecord(message)] });
    return t.db.prisma.job.findUniqueOrThrow({ where: { id } });
  }

  /** Bytes of the job's log rows as stored (message and data), and the largest line's. */
  async function logBytes(jobId: string) {
    const [row] = await t.db.prisma.$queryRaw<
      { lines: number; total: number; maxMessage: number; maxData: number }[]
    >`SELECT count(*)::int AS lines,
             coalesce(sum(octet_length(message) + coalesce(octet_length(data::text), 0)), 0)::int AS total,
             coalesce(max(char_length(message)), 0)::int AS "maxMessage",
             coalesce(max(octet_length(data::text)), 0)::int AS "maxData"
      FROM job_logs WHERE job_id = ${jobId}::uuid`;
    return row;
  }

  it('a header of one name a million times (dup.csv): error, result, job JSON and logs stay small', async () => {
    // python3 -c "print(','.join(['a']*1000000));print(1)" > dup.csv
    const job = await runCsvJob(`${Array.from({ length: 1_000_000 }, () => 'a').join(',')}\n1\n`);
    expect(job.status).toBe('FAILED');
    expect(job.error).toMatch(
      /^duplicate column names in the header: "a" \(columns 1 and 2\), .* and 999989 more$/,
    );
    // Was 27.9 MB of error and a 33.9 MB job.
    expect(Buffer.byteLength(job.error!)).toBeLessThanOrEqual(MAX_ERROR_CHARS);
    const result = job.result as { columns: string[]; columnCount: number };
    expect(result.columnCount).toBe(1_000_000);
    expect(result.columns).toHaveLength(1000);
    expect(Buffer.byteLength(JSON.stringify(job.result))).toBeLessThanOrEqual(MAX_RESULT_BYTES);
    expect(Buffer.byteLength(JSON.stringify(toJobDto(job)))).toBeLessThan(
      MAX_RESULT_BYTES + 2 * MAX_ERROR_CHARS,
    );
    const logs = await logBytes(job.id);
    expect(logs.maxMessage).toBeLessThanOrEqual(MAX_LOG_MESSAGE_CHARS + 1);
    expect(logs.total).toBeLessThan(16 * 1024);
  });

  it('20,000 typed columns of bad values: the log stays small (was 67 MB)', async () => {
    const names = Array.from({ length: 20_000 }, (_, i) => `c${i}`);
    const bad = names.map(() => 'x').join(',');
    const csv = `${names.join(',')}\n${Array.from({ length: 150 }, () => bad).join('\n')}\n`;
    const types = Object.fromEntries(names.map((n) => [n, 'integer']));
    const job = await runCsvJob(csv, { types, maxErrors: 1000 });
    expect(job.status).toBe('COMPLETED');
    expect(job.result).toMatchObject({ rows: 150, invalid: 150, columnCount: 20_000 });
    const logs = await logBytes(job.id);
    // 100 bad rows logged, each with 10 reasons and a count; the rest only counted.
    expect(logs.lines).toBeGreaterThan(100);
    expect(logs.maxData).toBeLessThanOrEqual(MAX_LOG_DATA_BYTES);
    expect(logs.maxMessage).toBeLessThanOrEqual(1000);
    expect(logs.total).toBeLessThan(256 * 1024);
    const first = await t.db.prisma.jobLog.findFirstOrThrow({
      where: { jobId: job.id, message: { startsWith: 'line 2:' } },
    });
    expect(first.message).toMatch(/; and 19990 more$/);
    expect(first.data).toMatchObject({ line: 2, errorCount: 20_000 });
  });

  it('a flood of log lines is cut to the rate, with one line saying how many were dropped', async () => {
    const id = randomUUID();
    await t.db.prisma.job.create({ data: { id, type: 'noop', ownerId } });
    let now = 0;
    const log = new JobLogWriter(jobStore, id, { rateLimit: { perSecond: 10, burst: 5, now: () => now } });
    for (let i = 1; i <= 20; i++) log.info(`flood ${i}`);
    now += 1000; // the bucket refills to its burst (5)
    log.info('after the pause');
    for (let i = 1; i <= 100; i++) log.info(`second flood ${i}`);
    await log.flush(); // the job's end: the count of the last flood is written too
    log.info('one more'); // no tokens left: dropped; drain() (for the final write) says so
    const lines = await t.db.prisma.jobLog.findMany({ where: { jobId: id }, orderBy: { seq: 'asc' } });
    const taken = await log.drain();
    expect(lines.map((l) => l.message)).toEqual([
      'flood 1',
      'flood 2',
      'flood 3',
      'flood 4',
      'flood 5',
      '15 lines dropped (rate limit)',
      'after the pause',
      'second flood 1',
      'second flood 2',
      'second flood 3',
      'second flood 4',
      '96 lines dropped (rate limit)',
    ]);
    expect(lines[5]).toMatchObject({ level: 'warn', data: { dropped: 15 } });
    expect(taken.map((l) => l.message)).toEqual(['1 line dropped (rate limit)']);
  });

  it('a result and data too big for any cut are stored as {truncated, bytes}', async () => {
    const id = randomUUID();
    await t.db.prisma.job.create({ data: { id, type: 'noop', ownerId } });
    const log = new JobLogWriter(jobStore, id);
    const nested = (d: number): unknown =>
      d === 0 ? 'z'.repeat(60) : Array.from({ length: 11 }, () => nested(d - 1));
    log.info('deep', nested(4));
    await log.flush();
    const [line] = await t.db.prisma.jobLog.findMany({ where: { jobId: id } });
    expect(line.data).toEqual({ truncated: true, bytes: expect.any(Number) });
  });
});
