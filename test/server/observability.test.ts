import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { randomUUID } from 'node:crypto';
import { SQSClient } from '@aws-sdk/client-sqs';
import type { Response } from 'express';
import { pino } from 'pino';
import { LiveEvents } from '../../core/jobs/live-events.js';
import { SqsQueue } from '../../core/queue/sqs-queue.js';
import { createMetrics } from '../../server/metrics.js';
import { startEmulator } from '../helpers/fauxqs.js';
import { until } from '../helpers/counting.js';
import { api, startTestServer, waitForJob, type TestServer } from '../helpers/api-server.js';
import { dbKinds, openTestDatabase } from '../helpers/db.js';

/** The value of one sample in Prometheus text (`name{labels} value`), or undefined. */
function sample(text: string, series: string): number | undefined {
  for (const line of text.split('\n')) {
    if (line.startsWith(`${series} `)) return Number(line.slice(series.length + 1));
  }
  return undefined;
}

async function scrape(url: string): Promise<string> {
  const res = await fetch(`${url}/metrics`);
  expect(res.status).toBe(200);
  expect(res.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
  return res.text();
}

describe.each(dbKinds())('/metrics on %s', (kind) => {
  let s: TestServer;
  beforeAll(async () => {
    s = await startTestServer(kind);
  });
  afterAll(async () => {
    await s.close();
  });

  it('reports jobs by status and type, queue depth and age, job durations and HTTP latency by route', async () => {
    const alice = await s.token('alice');
    const ok = await api(s.url, alice, 'POST', '/api/jobs', { type: 'noop', params: { sleepMs: 300 } });
    const bad = await api(s.url, alice, 'POST', '/api/jobs', { type: 'noop', params: { fail: true } });
    expect([ok.status, bad.status]).toEqual([201, 201]);
    // The oldest message sent 90 s ago (a fixture date, instead of waiting for it to age).
    await s.t.db.prisma.queueMessage.updateMany({
      where: { jobId: ok.body.id },
      data: { sentAt: new Date(Date.now() - 90_000) },
    });

    let text = await scrape(s.url);
    expect(text).toContain('# TYPE jobs_jobs gauge');
    expect(sample(text, 'jobs_jobs{status="PENDING",type="noop"}')).toBe(2);
    expect(sample(text, 'jobs_jobs{status="COMPLETED",type="noop"}')).toBe(0);
    expect(sample(text, 'jobs_queue_messages{state="waiting"}')).toBe(2);
    expect(sample(text, 'jobs_queue_messages{state="in_flight"}')).toBe(0);
    expect(sample(text, 'jobs_queue_oldest_message_age_seconds')).toBeGreaterThanOrEqual(90);
    expect(sample(text, 'jobs_queue_oldest_message_age_seconds')).toBeLessThan(3600);
    expect(sample(text, 'jobs_queue_scrape_ok')).toBe(1);

    s.startWorker();
    await waitForJob(s.url, alice, ok.body.id);
    await waitForJob(s.url, alice, bad.body.id);
    await api(s.url, alice, 'GET', `/api/jobs/${ok.body.id}`);
    await api(s.url, alice, 'GET', '/api/nothing-here');
    await api(s.url, alice, 'GET', '/api/jobs/00000000-0000-4000-8000-000000000000'); // 404 thrown in the route
    // The end notifications reach the histogram asynchronously (through LISTEN), and a request is
    // counted once its response has finished: wait until what came before has landed.
    const landed = (t: string) =>
      ['COMPLETED', 'FAILED'].every(
        (st) => sample(t, `jobs_job_duration_seconds_count{type="noop",status="${st}"}`) !== undefined,
      ) &&
      sample(t, 'http_request_duration_seconds_count{method="GET",route="unmatched",status_code="404"}') !==
        undefined;
    text = await until('the ends and the requests in the histograms', () => scrape(s.url), landed, 60_000);
    expect(sample(text, 'jobs_jobs{status="COMPLETED",type="noop"}')).toBe(1);
    expect(sample(text, 'jobs_jobs{status="FAILED",type="noop"}')).toBe(1);
    expect(sample(text, 'jobs_jobs{status="PENDING",type="noop"}')).toBe(0);
    expect(sample(text, 'jobs_queue_messages{state="waiting"}')).toBe(0);
    expect(sample(text, 'jobs_job_duration_seconds_count{type="noop",status="COMPLETED"}')).toBe(1);
    expect(sample(text, 'jobs_job_duration_seconds_count{type="noop",status="FAILED"}')).toBe(1);
    // The 300 ms job: not in the 0.25 s bucket, in the 0.5 s one (slack: a loaded machine).
    expect(sample(text, 'jobs_job_duration_seconds_bucket{le="0.25",type="noop",status="COMPLETED"}')).toBe(
      0,
    );
    expect(sample(text, 'jobs_job_duration_seconds_bucket{le="10",type="noop",status="COMPLETED"}')).toBe(1);

    const route = (r: string, status: number) =>
      sample(text, `http_request_duration_seconds_count{method="GET",route="${r}",status_code="${status}"}`);
    expect(route('/api/jobs/:id', 200)).toBeGreaterThanOrEqual(3);
    expect(route('/api/jobs/:id', 404)).toBe(1);
    expect(route('unmatched', 404)).toBe(1);
    expect(text).toContain('process_cpu_user_seconds_total');
  });
});

describe('/metrics with the SQS queue (fauxqs)', () => {
  it('reports the depth SQS knows (GetQueueAttributes) and says when the queue cannot be read', async () => {
    const emulator = await startEmulator();
    const t = await openTestDatabase('pglite');
    const live = new LiveEvents(t.db);
    try {
      const { url, dlqUrl } = await emulator.createQueue('metrics');
      // One attempt: the outage below should fail the scrape's queue read at once.
      const client = new SQSClient({
        region: 'us-east-1',
        endpoint: emulator.endpoint,
        credentials: { accessKeyId: 'test', secretAccessKey: 'test' },
        maxAttempts: 1,
      });
      const queue = new SqsQueue({ client, queueUrl: url, dlqUrl, logger: pino({ level: 'silent' }) });
      const metrics = createMetrics({ db: t.db, queue, live, logger: pino({ level: 'silent' }) });
      const scrapeNow = async () => {
        const res = { setHeader() {}, send: (b: string) => (text = b) } as unknown as Response;
        let text = '';
        await (metrics.handler as unknown as (req: unknown, res: Response) => Promise<void>)({}, res);
        return text;
      };
      for (let i = 0; i < 3; i++) await queue.send(randomUUID());
      await queue.receive({ max: 1, waitMs: 0 });
      let text = await scrapeNow();
      expect(sample(text, 'jobs_queue_messages{state="waiting"}')).toBe(2);
      expect(sample(text, 'jobs_queue_messages{state="in_flight"}')).toBe(1);
      expect(sample(text, 'jobs_queue_messages{state="dead_letter"}')).toBe(0);
      expect(sample(text, 'jobs_queue_oldest_message_age_seconds')).toBe(0); // no outbox backlog
      expect(sample(text, 'jobs_queue_scrape_ok')).toBe(1);

      await emulator.stop();
      text = await scrapeNow();
      expect(sample(text, 'jobs_queue_scrape_ok')).toBe(0);
      expect(sample(text, 'jobs_queue_messages{state="waiting"}')).toBeUndefined();
      expect(text).toContain('jobs_jobs'); // the rest of the scrape still works
    } finally {
      await live.close();
      await t.close();
      await emulator.stop().catch(() => {});
    }
  });
});

describe('CORS and request ids', () => {
  let s: TestServer;
  let plain: TestServer;
  const logs: Record<string, unknown>[] = [];

  beforeAll(async () => {
    const sink = new Writable({
      write(chunk: Buffer, _enc, cb) {
        for (const line of chunk.toString().split('\n')) if (line) logs.push(JSON.parse(line));
        cb();
      },
    });
    s = await startTestServer('pglite', {
      corsOrigins: ['https://dash.example.com', 'http://localhost:5173'],
      logger: pino({ level: 'info' }, sink),
    });
    plain = await startTestServer('pglite');
  });
  afterAll(async () => {
    await s.close();
    await plain.close();
  });

  it('allows the configured origins, preflight included, and refuses others', async () => {
    const allowed = await fetch(`${s.url}/healthz`, { headers: { origin: 'https://dash.example.com' } });
    expect(allowed.headers.get('access-control-allow-origin')).toBe('https://dash.example.com');
    expect(allowed.headers.get('access-control-expose-headers')).toMatch(/X-Request-Id/);
    expect(allowed.headers.get('vary')).toMatch(/Origin/);

    const preflight = await fetch(`${s.url}/api/jobs/x/logs`, {
      method: 'OPTIONS',
      headers: {
        origin: 'http://localhost:5173',
        'access-control-request-method': 'GET',
        'access-control-request-headers': 'authorization,idempotency-key,last-event-id',
      },
    });
    expect(preflight.status).toBe(204);
    expect(preflight.headers.get('access-control-allow-origin')).toBe('http://localhost:5173');
    const allowedHeaders = (preflight.headers.get('access-control-allow-headers') ?? '').toLowerCase();
    for (const h of ['authorization', 'idempotency-key', 'last-event-id', 'content-type'])
      expect(allowedHeaders.split(',')).toContain(h);

    const refused = await fetch(`${s.url}/healthz`, { headers: { origin: 'https://evil.example.net' } });
    expect(refused.headers.get('access-control-allow-origin')).toBeNull();
    const refusedPreflight = await fetch(`${s.url}/api/jobs`, {
      method: 'OPTIONS',
      headers: { origin: 'https://evil.example.net', 'access-control-request-method': 'POST' },
    });
    expect(refusedPreflight.headers.get('access-control-allow-origin')).toBeNull();

    // Not configured: no cross-origin access at all.
    const none = await fetch(`${plain.url}/healthz`, { headers: { origin: 'https://dash.example.com' } });
    expect(none.headers.get('access-control-allow-origin')).toBeNull();
  });

  it('keeps a sane X-Request-Id, replaces others, and logs every request (and error) with it', async () => {
    const token = await s.token('alice');
    const kept = await fetch(`${s.url}/api/me`, {
      headers: { authorization: `Bearer ${token}`, 'x-request-id': 'edge-1234.abc' },
    });
    expect(kept.headers.get('x-request-id')).toBe('edge-1234.abc');
    const uuid = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
    const fresh = await fetch(`${s.url}/healthz`);
    expect(fresh.headers.get('x-request-id')).toMatch(uuid);
    const insane = await fetch(`${s.url}/healthz`, {
      headers: { 'x-request-id': `a b <script>${'x'.repeat(200)}` },
    });
    expect(insane.headers.get('x-request-id')).toMatch(uuid);
    const refused = await fetch(`${s.url}/api/me`, { headers: { 'x-request-id': 'no-token-1' } });
    expect(refused.status).toBe(401);

    // A failure inside a route: the error log names the request.
    await s.t.db.prisma.$executeRawUnsafe('ALTER TABLE jobs RENAME TO jobs_away');
    try {
      const failed = await fetch(`${s.url}/api/jobs`, {
        headers: { authorization: `Bearer ${token}`, 'x-request-id': 'req-broken-1' },
      });
      expect(failed.status).toBe(500);
      expect(await failed.json()).toEqual({ error: { code: 'internal', message: 'internal server error' } });
    } finally {
      await s.t.db.prisma.$executeRawUnsafe('ALTER TABLE jobs_away RENAME TO jobs');
    }
    // A request is logged as its response finishes: wait for the error request's line.
    await until(
      "the failed request's completion logged",
      () => logs.filter((l) => l.reqId === 'req-broken-1'),
      (lines) => lines.some((l) => l.res !== undefined),
    );
    const meLine = logs.find((l) => l.reqId === 'edge-1234.abc');
    expect(meLine).toMatchObject({
      level: 30,
      req: { method: 'GET', url: '/api/me' },
      res: { statusCode: 200 },
      msg: 'request completed',
    });
    expect(typeof meLine?.responseTime).toBe('number');
    // A client error at warn (logged before the failed request's line, which was awaited above).
    expect(logs.find((l) => l.reqId === 'no-token-1')).toMatchObject({
      level: 40,
      res: { statusCode: 401 },
      msg: 'request completed',
    });
    expect(JSON.stringify(meLine)).not.toContain(token); // no headers in the logs
    const errorLines = logs.filter((l) => l.reqId === 'req-broken-1');
    expect(errorLines.map((l) => l.msg)).toContain('unhandled error');
    expect(errorLines.find((l) => l.res !== undefined)).toMatchObject({
      res: { statusCode: 500 },
      msg: 'request errored',
      err: { message: 'failed with status code 500' },
    });
    expect(errorLines.every((l) => l.level === 50)).toBe(true);
  });
});
