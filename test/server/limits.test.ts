import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from '@jest/globals';
import { AuthService } from '../../core/auth/auth-service.js';
import { FsBlobStore } from '../../core/blobs/fs-blob-store.js';
import { DbQueue } from '../../core/queue/db-queue.js';
import { createApp, type AppDeps } from '../../server/app.js';
import { createHttpServer } from '../../server/continue.js';
import { dbKinds, openTestDatabase, type TestDatabase } from '../helpers/db.js';
import { composeForTest, type TestPlatform } from '../helpers/platform.js';

/**
 * Issue 14, item 6: per-token request rate limits (429 with Retry-After, counted in PostgreSQL so
 * that they hold across API hosts, in memory when embedded) and a per-user cap on active jobs.
 */
describe.each(dbKinds())('request rate limits and job quotas on %s', (kind) => {
  let t: TestDatabase;
  let dir: string;
  let queue: DbQueue;
  const servers: Server[] = [];
  const platforms: TestPlatform[] = [];
  let auth: AuthService;

  /** An API host (createApp over real HTTP) on the suite's database, with these limits. */
  async function host(limits: AppDeps['limits']): Promise<string> {
    // Composed as `jobs server` composes an API host; the limits are the ones under test.
    const platform = await composeForTest(t, { blobs: new FsBlobStore(dir) });
    platforms.push(platform);
    const app = createApp({ ...platform.api, limits });
    const server = createHttpServer(app);
    servers.push(server);
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  }

  let limited: string; // 5 requests a minute, no job cap
  let capped: string; // no request limit, 3 active jobs per user
  let alice: string;
  let bob: string;

  beforeAll(async () => {
    t = await openTestDatabase(kind);
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'jobs-limits-'));
    queue = new DbQueue(t.db, { visibilityTimeoutSeconds: 30, maxReceives: 5 });
    auth = new AuthService(t.db.prisma);
    limited = await host({ requestsPerMinute: 5, maxActiveJobsPerUser: 0 });
    capped = await host({ requestsPerMinute: 0, maxActiveJobsPerUser: 3 });
  });
  afterAll(async () => {
    for (const s of servers) {
      s.closeAllConnections();
      await new Promise<void>((r) => s.close(() => r()));
    }
    await queue.close();
    for (const p of platforms) await p.dispose();
    await t.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });
  beforeEach(async () => {
    await t.reset();
    await t.db.prisma.$executeRawUnsafe('TRUNCATE rate_limits');
    // Each test its own tokens: the memory store's counts are keyed by token id (or IP).
    alice = (await auth.createToken({ userName: 'alice' })).token;
    bob = (await auth.createToken({ userName: 'bob' })).token;
    // On PostgreSQL windows are aligned on the minute: keep a test's requests inside one.
    if (kind === 'postgres') await clearOfWindowEnd();
  });

  async function call(base: string, token: string | undefined, method: string, p: string, body?: unknown) {
    const res = await fetch(base + p, {
      method,
      headers: {
        ...(token ? { authorization: `Bearer ${token}` } : {}),
        ...(body ? { 'content-type': 'application/json' } : {}),
      },
      body: body ? JSON.stringify(body) : undefined,
    });
    const text = await res.text();
    return { status: res.status, headers: res.headers, body: text ? JSON.parse(text) : undefined };
  }

  describe('request rate limit', () => {
    it('answers the 6th request of a minute with 429 rate_limited and Retry-After; other tokens go on', async () => {
      for (let i = 1; i <= 5; i++) {
        const ok = await call(limited, alice, 'GET', '/api/jobs');
        expect(ok.status).toBe(200);
        expect(ok.headers.get('ratelimit')).toBe(`limit=5, remaining=${5 - i}, reset=${resetOf(ok.headers)}`);
      }
      const refused = await call(limited, alice, 'GET', '/api/jobs');
      expect(refused.status).toBe(429);
      const retryAfter = Number(refused.headers.get('retry-after'));
      expect(Number.isInteger(retryAfter)).toBe(true);
      expect(retryAfter).toBeGreaterThanOrEqual(1);
      expect(retryAfter).toBeLessThanOrEqual(60);
      expect(refused.body.error).toMatchObject({
        code: 'rate_limited',
        message: expect.stringMatching(/^rate limit exceeded: at most 5 requests a minute per token/),
        details: { limit: 5, windowSeconds: 60, retryAfterSeconds: retryAfter },
      });
      // Every route under /api, POSTs too.
      expect((await call(limited, alice, 'POST', '/api/jobs', { type: 'noop' })).status).toBe(429);
      expect((await call(limited, bob, 'GET', '/api/jobs')).status).toBe(200);
    });

    it('counts requests without a token by IP address, and leaves health and metrics alone', async () => {
      for (let i = 0; i < 5; i++)
        expect((await call(limited, undefined, 'GET', '/api/jobs')).status).toBe(401);
      const refused = await call(limited, undefined, 'GET', '/api/jobs');
      expect(refused.status).toBe(429);
      expect(refused.headers.get('retry-after')).toMatch(/^\d+$/);
      // A token's requests are its own count, not the address's.
      expect((await call(limited, alice, 'GET', '/api/jobs')).status).toBe(200);
      for (const p of ['/healthz', '/readyz', '/metrics', '/healthz', '/readyz', '/metrics']) {
        expect((await fetch(limited + p)).status).toBe(200);
      }
    });

    (kind === 'postgres' ? it : it.skip)(
      'holds across API hosts: two app instances over one database share the count',
      async () => {
        const other = await host({ requestsPerMinute: 5, maxActiveJobsPerUser: 0 });
        for (let i = 0; i < 3; i++) expect((await call(limited, alice, 'GET', '/api/jobs')).status).toBe(200);
        for (let i = 0; i < 2; i++) expect((await call(other, alice, 'GET', '/api/jobs')).status).toBe(200);
        expect((await call(other, alice, 'GET', '/api/jobs')).status).toBe(429);
        expect((await call(limited, alice, 'GET', '/api/jobs')).status).toBe(429);
        const [row] = await t.db.prisma.$queryRaw<{ hits: number }[]>`SELECT hits FROM rate_limits`;
        expect(row.hits).toBe(7);
      },
    );
  });

  describe('active jobs per user', () => {
    const noop = { type: 'noop', params: { sleepMs: 3_600_000 } };

    it('answers 429 quota_exceeded naming the limit, with Retry-After; another user is unaffected', async () => {
      for (let i = 0; i < 3; i++)
        expect((await call(capped, alice, 'POST', '/api/jobs', noop)).status).toBe(201);
      const refused = await call(capped, alice, 'POST', '/api/jobs', noop);
      expect(refused.status).toBe(429);
      expect(Number(refused.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
      expect(refused.body.error).toMatchObject({
        code: 'quota_exceeded',
        message: expect.stringContaining("at most 3 of a user's jobs may be pending or running at once"),
        details: { limit: 3, name: 'JOBS_MAX_ACTIVE_JOBS_PER_USER' },
      });
      expect(refused.body.error.message).toContain('JOBS_MAX_ACTIVE_JOBS_PER_USER');
      expect(await t.db.prisma.job.count()).toBe(3);

      expect((await call(capped, bob, 'POST', '/api/jobs', noop)).status).toBe(201);

      // A finished (here: cancelled) job frees its place; retrying it takes one again.
      const { body: page } = await call(capped, alice, 'GET', '/api/jobs');
      const first = page.items[0].id as string;
      expect((await call(capped, alice, 'POST', `/api/jobs/${first}/cancel`)).status).toBe(200);
      expect((await call(capped, alice, 'POST', '/api/jobs', noop)).status).toBe(201);
      const retried = await call(capped, alice, 'POST', `/api/jobs/${first}/retry`);
      expect(retried.status).toBe(429);
      expect(retried.body.error.code).toBe('quota_exceeded');
    });

    it('holds under concurrent creates (checked in the inserting transaction)', async () => {
      const results = await Promise.all(
        Array.from({ length: 20 }, () => call(capped, alice, 'POST', '/api/jobs', noop)),
      );
      const statuses = results.map((r) => r.status);
      expect(statuses.every((s) => s === 201 || s === 429)).toBe(true);
      expect(statuses.filter((s) => s === 429).length).toBeGreaterThan(0);
      const active = await t.db.prisma.job.count({ where: { status: { in: ['PENDING', 'RUNNING'] } } });
      // PGlite runs one transaction at a time; PostgreSQL may let the pool's 10 count at once.
      expect(active).toBeGreaterThanOrEqual(3);
      expect(active).toBeLessThanOrEqual(kind === 'pglite' ? 3 : 3 + 10);
    });
  });
});

/** The draft-7 `RateLimit` header's reset (seconds), for comparing the rest of the header. */
function resetOf(headers: Headers): string {
  return /reset=(\d+)/.exec(headers.get('ratelimit') ?? '')?.[1] ?? 'missing';
}

/** Waits (if needed) until the current minute has at least 15 s left, so a test's requests share it. */
async function clearOfWindowEnd(): Promise<void> {
  while (Date.now() % 60_000 > 45_000) await new Promise((r) => setTimeout(r, 250));
}
