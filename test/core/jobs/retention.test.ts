import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from '@jest/globals';
import { pino } from 'pino';
import { FsBlobStore } from '../../../core/blobs/fs-blob-store.js';
import { parseDuration } from '../../../core/duration.js';
import { JobStore } from '../../../core/jobs/job-store.js';
import { RetentionService } from '../../../core/jobs/retention.js';
import { DbQueue } from '../../../core/queue/db-queue.js';
import { dbKinds, openTestDatabase, type TestDatabase } from '../../helpers/db.js';

const DAY_MS = 86_400_000;

describe('parseDuration', () => {
  it('reads a whole number and a unit', () => {
    expect(parseDuration('90s')).toBe(90_000);
    expect(parseDuration('10m')).toBe(600_000);
    expect(parseDuration('2h')).toBe(7_200_000);
    expect(parseDuration(' 7d ')).toBe(7 * DAY_MS);
    expect(parseDuration('2w')).toBe(14 * DAY_MS);
    for (const bad of ['', '7', 'd', '1.5h', '-1d', '7 days', '7D', '10000000000s']) {
      expect([bad, parseDuration(bad)]).toEqual([bad, null]);
    }
  });
});

/**
 * Retention on PGlite and PostgreSQL: exactly the finished jobs older than the cutoff go, with
 * their log lines, queue messages, upload records and input files; nothing else is touched.
 */
describe.each(dbKinds())('RetentionService on %s', (kind) => {
  let t: TestDatabase;
  let queue: DbQueue;
  let store: JobStore;
  let blobs: FsBlobStore;
  let retention: RetentionService;
  let blobDir: string;
  const ownerId = randomUUID();

  beforeAll(async () => {
    t = await openTestDatabase(kind);
    queue = new DbQueue(t.db, { visibilityTimeoutSeconds: 30, maxReceives: 5 });
    store = new JobStore(t.db, queue);
    blobDir = fs.mkdtempSync(path.join(os.tmpdir(), 'jobs-retention-'));
    blobs = new FsBlobStore(blobDir);
    retention = new RetentionService({ store, blobs, logger: pino({ level: 'silent' }) });
  });
  afterAll(async () => {
    await queue.close();
    await t.close();
    fs.rmSync(blobDir, { recursive: true, force: true });
  });
  beforeEach(async () => {
    await t.reset();
    await t.db.prisma.user.create({ data: { id: ownerId, name: 'owner' } });
  });

  /** A job row as a test fixture: `status`, finished `daysAgo` (null: not finished), with an input. */
  async function job(status: string, daysAgo: number | null, opts: { input?: boolean } = {}) {
    const id = randomUUID();
    const key = opts.input ? `inputs/${ownerId}/${id}` : null;
    if (key) await blobs.put(key, Readable.from([Buffer.from('a,b\n1,2\n')]), { maxBytes: 1024 });
    await t.db.prisma.$executeRaw`
      INSERT INTO jobs (id, type, status, owner_id, input_key, finished_at)
      VALUES (${id}::uuid, 'noop', ${status}::"JobStatus", ${ownerId}::uuid, ${key},
              CASE WHEN ${daysAgo}::float8 IS NULL THEN NULL
                   ELSE now() - make_interval(secs => ${daysAgo}::float8 * 86400) END)`;
    await t.db.prisma.$executeRaw`
      INSERT INTO job_logs (job_id, seq, level, message) VALUES (${id}::uuid, 1, 'info', 'hello')`;
    await t.db.prisma.$executeRaw`INSERT INTO queue_messages (job_id) VALUES (${id}::uuid)`;
    if (key) {
      await t.db.prisma.$executeRaw`
        INSERT INTO uploads (id, owner_id, key, file_name, size, part_size, status, expires_at)
        VALUES (${id}::uuid, ${ownerId}::uuid, ${key}, 'a.csv', 8, 8, 'USED', now())`;
    }
    return { id, key };
  }

  const jobIds = async () =>
    (await t.db.prisma.job.findMany({ select: { id: true } })).map((j) => j.id).sort();
  const count = async (table: 'job_logs' | 'queue_messages' | 'uploads') =>
    Number((await t.db.prisma.$queryRawUnsafe<{ n: bigint }[]>(`SELECT count(*) AS n FROM ${table}`))[0]!.n);

  it('deletes exactly the finished jobs older than the cutoff, with what they own', async () => {
    const old = [
      await job('COMPLETED', 40, { input: true }),
      await job('FAILED', 31),
      await job('CANCELLED', 35, { input: true }),
    ];
    const kept = [
      await job('COMPLETED', 29, { input: true }), // too recent
      await job('PENDING', null, { input: true }),
      await job('RUNNING', null),
      await job('PENDING', 40), // a retried job's old finished_at does not make it finished
    ];

    const dry = await retention.prune({ olderThanMs: 30 * DAY_MS, dryRun: true });
    expect([dry.jobs, dry.inputs, dry.dryRun]).toEqual([3, 0, true]);
    expect(Date.now() - dry.oldest!.getTime()).toBeGreaterThan(39 * DAY_MS);
    expect(await jobIds()).toHaveLength(7); // a dry run changes nothing

    // Batches of 2: the loop goes on until a short batch.
    const done = await retention.prune({ olderThanMs: 30 * DAY_MS, batch: 2 });
    expect([done.jobs, done.inputs, done.dryRun]).toEqual([3, 2, false]);
    expect(await jobIds()).toEqual(kept.map((k) => k.id).sort());
    expect([await count('job_logs'), await count('queue_messages'), await count('uploads')]).toEqual([
      4, 4, 2,
    ]);
    const stored = (key: string) => fs.existsSync(path.join(blobDir, ...key.split('/')));
    expect(old.filter((o) => o.key).map((o) => stored(o.key!))).toEqual([false, false]);
    expect(kept.filter((k) => k.key).map((k) => stored(k.key!))).toEqual([true, true]);

    // Nothing left to do: a second run deletes nothing.
    expect((await retention.prune({ olderThanMs: 30 * DAY_MS })).jobs).toBe(0);
  });
});
