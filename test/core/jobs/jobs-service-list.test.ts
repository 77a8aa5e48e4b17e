import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { Principal } from '../../../core/auth/principal.js';
import { JobTypeRegistry } from '../../../core/jobs/job-types.js';
import { JobsService } from '../../../core/jobs/jobs-service.js';
import { DbQueue } from '../../../core/queue/db-queue.js';
import { builtinHandlers } from '../../../processor/handlers/index.js';
import { JobStore } from '../../../core/jobs/job-store.js';
import { dbKinds, openTestDatabase, type TestDatabase } from '../../helpers/db.js';

/**
 * Keyset pages over (createdAt, id) descending: every job exactly once, in order, also when many
 * jobs share one createdAt (the cursor's tie-break on id) and across owners.
 */
describe.each(dbKinds())('JobsService.list pages on %s', (kind) => {
  let t: TestDatabase;
  let jobs: JobsService;
  let queue: DbQueue;
  const owner: Principal = {
    userId: randomUUID(),
    name: 'pager',
    role: 'user',
    permissions: ['job:Create', 'job:Read'],
    tokenId: randomUUID(),
  };
  const other = randomUUID();
  const mine: { id: string; createdAt: Date }[] = [];

  beforeAll(async () => {
    t = await openTestDatabase(kind);
    queue = new DbQueue(t.db, { visibilityTimeoutSeconds: 30, maxReceives: 3 });
    jobs = new JobsService(t.db.prisma, new JobStore(t.db, queue), new JobTypeRegistry(builtinHandlers));
    await t.db.prisma.user.create({ data: { id: owner.userId, name: 'pager' } });
    await t.db.prisma.user.create({ data: { id: other, name: 'other' } });
    // Four timestamps, five jobs each (ties), interleaved with another owner's jobs.
    const base = Date.parse('2026-01-01T00:00:00Z');
    const rows = [];
    for (let s = 0; s < 4; s++) {
      for (let k = 0; k < 5; k++) {
        const createdAt = new Date(base + s * 1000);
        const id = randomUUID();
        mine.push({ id, createdAt });
        rows.push({ id, type: 'noop', ownerId: owner.userId, createdAt });
        rows.push({ id: randomUUID(), type: 'noop', ownerId: other, createdAt });
      }
    }
    await t.db.prisma.job.createMany({ data: rows });
  });
  afterAll(async () => {
    await queue.close();
    await t.close();
  });

  it.each([1, 3, 7, 20])('returns every job once, newest first, %i at a time', async (limit) => {
    const seen: string[] = [];
    let cursor: string | undefined;
    for (let pages = 0; pages < 100; pages++) {
      const page = await jobs.list(owner, { limit, cursor });
      seen.push(...page.items.map((j) => j.id));
      if (!page.nextCursor) break;
      cursor = page.nextCursor;
    }
    const expected = [...mine]
      .sort((a, b) => b.createdAt.getTime() - a.createdAt.getTime() || (a.id < b.id ? 1 : -1))
      .map((j) => j.id);
    expect(seen).toEqual(expected);
  });
});
