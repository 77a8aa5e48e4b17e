import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from '@jest/globals';
import { FsBlobStore } from '../../core/blobs/fs-blob-store.js';
import { toRecord } from '../../processor/queue-worker.js';
import { openTestDatabase, type TestDatabase } from '../helpers/db.js';
import { composeForTest } from '../helpers/platform.js';

/**
 * A job's input is hashed on read only when its store did not hash it on write (S3's direct
 * uploads); a directory store's blobs are not read twice over.
 */
describe('the input check on read', () => {
  let t: TestDatabase;
  let dir: string;
  let store: FsBlobStore;
  const ownerId = randomUUID();

  beforeAll(async () => {
    t = await openTestDatabase('pglite');
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'jobs-input-check-'));
    store = new FsBlobStore(dir);
  });
  afterAll(async () => {
    await t.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });
  beforeEach(async () => {
    await t.reset();
    await t.db.prisma.user.create({ data: { id: ownerId, name: 'owner' } });
  });

  /** A csv-import job whose recorded SHA-256 is not its stored bytes' (a corrupt direct upload). */
  async function runCorruptJob(hashedOnWrite: boolean) {
    const id = randomUUID();
    const key = `inputs/${ownerId}/${id}`;
    const stored = await store.put(key, Readable.from([Buffer.from('a,b\n1,2\n')]), { maxBytes: 1000 });
    await t.db.prisma.job.create({
      data: {
        id,
        type: 'csv-import',
        ownerId,
        params: {},
        inputKey: key,
        inputName: 'x.csv',
        inputSize: stored.size,
        inputSha256: 'f'.repeat(64),
      },
    });
    const blobs = Object.assign(Object.create(store) as FsBlobStore, { hashedOnWrite });
    const platform = await composeForTest(t, { blobs });
    try {
      const queue = platform.api.queue;
      await queue.send(id);
      const [message] = await queue.receive({ max: 1, waitMs: 1000 });
      await platform.processor({ Records: [toRecord(message)] });
      return await t.db.prisma.job.findUniqueOrThrow({ where: { id } });
    } finally {
      await platform.dispose();
    }
  }

  it('checks the SHA-256 of an input its store did not hash on write', async () => {
    const job = await runCorruptJob(false);
    expect(job.status).toBe('FAILED');
    expect(job.error).toMatch(/SHA-256/);
  });

  it('does not hash again an input its store hashed on write', async () => {
    const job = await runCorruptJob(true);
    expect(job.status).toBe('COMPLETED');
  });
});
