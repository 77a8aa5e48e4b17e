import { afterAll, beforeAll, beforeEach, describe, expect, it } from '@jest/globals';
import { api, startTestServer, type TestServer } from '../helpers/api-server.js';
import { until } from '../helpers/counting.js';
import { countingDatabase } from '../helpers/counting-db.js';
import { dbKinds } from '../helpers/db.js';
import { openSse, type SseConnection } from '../helpers/sse.js';

/** Streams per token in this suite (JOBS_MAX_STREAMS_PER_TOKEN). */
const CAP = 16;
/** How often open streams re-check their token here (2 s by default). */
const RECHECK_MS = 200;

describe.each(dbKinds())('event streams: revoked tokens, shared reads, a cap per token, on %s', (kind) => {
  let s: TestServer;
  let ops: string[];
  let alice: string;
  let bob: string;
  const open: SseConnection[] = [];

  beforeAll(async () => {
    s = await startTestServer(kind, {
      livePingMs: 60_000,
      appDeps: (t) => {
        const counted = countingDatabase(t.db);
        ops = counted.ops;
        return { db: counted.db, maxStreamsPerToken: CAP, streamAuthTtlMs: RECHECK_MS };
      },
    });
  });
  afterAll(async () => {
    for (const c of open) c.close();
    await s.close();
  });
  beforeEach(async () => {
    closeAll();
    await s.reset();
    alice = await s.token('alice');
    bob = await s.token('bob');
  });

  function closeAll() {
    for (const c of open.splice(0)) c.close();
  }

  async function sse(path: string, token: string) {
    const c = await openSse(s.url + path, token);
    open.push(c);
    return c;
  }

  async function createJob(token: string): Promise<string> {
    const res = await api(s.url, token, 'POST', '/api/jobs', { type: 'noop' });
    expect(res.status).toBe(201);
    return res.body.id;
  }

  const parse = (e: { data: string }) => JSON.parse(e.data);
  const jobReads = () => ops.filter((o) => !o.startsWith('ApiToken.')).length;

  it('ends the list and log streams of a revoked token with an error event, even with nothing to send', async () => {
    const created = await s.auth.createToken({ userName: 'alice', name: 'laptop' });
    const id = await createJob(alice);
    const list = await sse('/api/jobs', created.token);
    const logs = await sse(`/api/jobs/${id}/logs`, created.token);
    const bobs = await sse('/api/jobs', bob);
    expect([list.status, logs.status, bobs.status]).toEqual([200, 200, 200]);
    expect((await logs.next()).event).toBe('job');

    // Revoked through the API (the app's own AuthService): refused by this host at once.
    const root = await s.token('root', { admin: true });
    expect((await api(s.url, root, 'DELETE', `/api/tokens/${created.id}`)).status).toBe(200);
    for (const c of [list, logs]) {
      const last = await c.next(10_000);
      expect(last.event).toBe('error');
      expect(parse(last)).toEqual({ error: { code: 'unauthorized', message: 'token revoked' } });
      await c.ended; // the server closed it
    }
    expect((await openSse(`${s.url}/api/jobs`, created.token)).status).toBe(401);

    // Other tokens' streams go on.
    const bobsJob = await createJob(bob);
    expect(parse(await bobs.next())).toMatchObject({ id: bobsJob });
  });

  it('re-checks tokens with one read per period, however many streams and events', async () => {
    const streams = [];
    for (let i = 0; i < 10; i++) streams.push(await sse('/api/jobs', alice));
    const id = await createJob(alice);
    for (let i = 0; i < 5; i++) streams.push(await sse(`/api/jobs/${id}/logs`, alice));
    ops.splice(0);
    const started = Date.now();
    for (let i = 0; i < 5; i++) await createJob(alice);
    for (const c of streams.slice(0, 10)) for (let i = 0; i < 6; i++) await c.next();
    // Stay open a while: the re-checks go on without events too.
    await new Promise((r) => setTimeout(r, 5 * RECHECK_MS));
    const periods = (Date.now() - started) / RECHECK_MS;
    const tokenReads = ops.filter((o) => o === 'ApiToken.findMany').length;
    console.log(`${kind}: ${tokenReads} token re-checks in ${periods.toFixed(1)} periods for 15 streams`);
    expect(tokenReads).toBeGreaterThan(0);
    expect(tokenReads).toBeLessThanOrEqual(Math.ceil(periods) + 2);
  });

  it('serves every list stream from one read per change: the statements do not grow with the streams', async () => {
    async function statementsFor(n: number): Promise<number> {
      closeAll();
      const streams: SseConnection[] = [];
      for (let i = 0; i < n; i++) streams.push(await sse('/api/jobs', alice));
      ops.splice(0);
      for (let i = 0; i < 5; i++) await createJob(alice);
      for (const c of streams) for (let i = 0; i < 5; i++) expect((await c.next()).event).toBe('job');
      return jobReads();
    }
    const one = await statementsFor(1);
    const many = await statementsFor(CAP - 1);
    console.log(`${kind}: 5 new jobs cost ${one} statements with 1 list stream, ${many} with ${CAP - 1}`);
    // Each stream reading for itself cost 5 reads more per stream (70 here).
    expect(many).toBeLessThanOrEqual(one + 2);
  });

  it(`answers 429 with Retry-After past ${CAP} streams per token, and admits again once one closes`, async () => {
    const id = await createJob(alice);
    const mine: SseConnection[] = [];
    for (let i = 0; i < CAP; i++) {
      const c = await sse(i % 2 ? '/api/jobs' : `/api/jobs/${id}/logs`, alice);
      expect(c.status).toBe(200);
      mine.push(c);
    }
    for (const path of ['/api/jobs', `/api/jobs/${id}/logs`]) {
      const refused = await sse(path, alice);
      expect(refused.status).toBe(429);
      expect(refused.headers['retry-after']).toMatch(/^\d+$/);
      const error = JSON.parse(refused.body).error;
      expect(error.code).toBe('too_many_streams');
      expect(error.message).toMatch(/JOBS_MAX_STREAMS_PER_TOKEN/);
    }
    // Another token (even of the same user) has its own streams; plain requests are not limited.
    const second = await s.token('alice');
    expect((await sse('/api/jobs', second)).status).toBe(200);
    expect((await api(s.url, alice, 'GET', '/api/jobs')).status).toBe(200);

    mine[0].close();
    await until(
      'a slot to free up',
      async () => {
        const c = await sse('/api/jobs', alice);
        return c.status;
      },
      (status) => status === 200,
      20_000,
    );
  });
});
