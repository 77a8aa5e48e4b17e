import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from '@jest/globals';
import { JobStore } from '../../core/jobs/job-store.js';
import { JobLogWriter } from '../../processor/job-log-writer.js';
import { dbKinds, openTestDatabase, type TestDatabase } from '../helpers/db.js';

/** Log lines: batched single-statement inserts, seqs without gaps or collisions, data as JSON. */
/** Log writing needs no queue. */
const noQueue = {
  send: () => Promise.reject(new Error('no queue here')),
  sendMany: () => Promise.reject(new Error('no queue here')),
};

describe.each(dbKinds())('JobLogWriter on %s', (kind) => {
  let t: TestDatabase;
  const ownerId = randomUUID();

  beforeAll(async () => {
    t = await openTestDatabase(kind);
  });
  afterAll(async () => {
    await t.close();
  });
  beforeEach(async () => {
    await t.reset();
    await t.db.prisma.user.create({ data: { id: ownerId, name: 'owner' } });
  });

  async function newJob(): Promise<string> {
    const id = randomUUID();
    await t.db.prisma.job.create({ data: { id, type: 'noop', ownerId } });
    return id;
  }

  it('keeps levels, messages, timestamps and data (null, nested, bigint, unserialisable)', async () => {
    const id = await newJob();
    const log = new JobLogWriter(new JobStore(t.db, noQueue), id);
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    log.info('plain');
    log.warn('with data', { row: 7, errors: ['bad date'], nested: { ok: false } });
    log.error('bigint', { bytes: 10n ** 12n });
    log.info('null data', null);
    log.info('quotes \' " and unicode ✓', 'a string');
    log.info('cyclic', cyclic);
    await log.flush();
    const rows = await t.db.prisma.jobLog.findMany({ where: { jobId: id }, orderBy: { seq: 'asc' } });
    expect(rows.map((r) => [r.seq, r.level, r.message, r.data])).toEqual([
      [1, 'info', 'plain', null],
      [2, 'warn', 'with data', { row: 7, errors: ['bad date'], nested: { ok: false } }],
      [3, 'error', 'bigint', { bytes: 1e12 }],
      [4, 'info', 'null data', null],
      [5, 'info', 'quotes \' " and unicode ✓', 'a string'],
      [6, 'info', 'cyclic', '[object Object]'],
    ]);
    expect(rows.every((r) => Math.abs(r.ts.getTime() - Date.now()) < 60_000)).toBe(true);
    expect((await t.db.prisma.job.findUniqueOrThrow({ where: { id } })).logSeq).toBe(6);
  });

  it('two writers on one job (an attempt and a duplicate delivery) never share a seq', async () => {
    const id = await newJob();
    const a = new JobLogWriter(new JobStore(t.db, noQueue), id, { batchSize: 50 });
    const b = new JobLogWriter(new JobStore(t.db, noQueue), id, { batchSize: 70 });
    for (let i = 0; i < 600; i++) {
      a.info(`a ${i}`);
      b.info(`b ${i}`);
      if (i % 100 === 0) await new Promise((r) => setTimeout(r, 1));
    }
    await Promise.all([a.flush(), b.flush()]);
    const rows = await t.db.prisma.jobLog.findMany({ where: { jobId: id }, orderBy: { seq: 'asc' } });
    expect(rows.map((r) => r.seq)).toEqual(Array.from({ length: 1200 }, (_, i) => i + 1));
    // Each writer's lines stay in the order it wrote them.
    for (const w of ['a', 'b']) {
      const mine = rows.filter((r) => r.message.startsWith(`${w} `)).map((r) => Number(r.message.slice(2)));
      expect(mine).toEqual(Array.from({ length: 600 }, (_, i) => i));
    }
  });
});
