import type { Request, RequestHandler } from 'express';
import type { Logger } from 'pino';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { Database } from '../core/db/database.js';
import { JOB_STATUSES } from '../core/jobs/job-dto.js';
import type { LiveEvents } from '../core/jobs/live-events.js';
import type { JobQueue } from '../core/queue/job-queue.js';

export interface Metrics {
  registry: Registry;
  /** Times every request (but event streams, which are long by design) by route pattern. */
  http: RequestHandler;
  /** `GET /metrics`. */
  handler: RequestHandler;
}

/**
 * Prometheus metrics of one API process. Job and queue figures are read from the database and
 * the queue at scrape time (the truth, whatever process ran the jobs); job durations are observed
 * from the live-update channel, which carries every job's end (embedded worker, `jobs worker` or
 * Lambda alike), from the first scrape on. Each API replica observes every job: aggregate
 * durations with max, not sum.
 */
export function createMetrics(deps: {
  db: Database;
  queue: JobQueue;
  live: LiveEvents;
  logger: Logger;
}): Metrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });

  new Gauge({
    name: 'jobs_jobs',
    help: 'Jobs by status and type (read from the database at scrape time).',
    labelNames: ['status', 'type'],
    registers: [registry],
    async collect() {
      const rows = await deps.db.prisma.$queryRaw<{ status: string; type: string; n: bigint }[]>`
        SELECT status::text AS status, type, count(*) AS n FROM jobs GROUP BY 1, 2`;
      this.reset();
      // Every status appears (0 when empty), so a rate or an alert on one never sees a gap.
      const types = new Set(rows.map((r) => r.type));
      for (const type of types) for (const status of JOB_STATUSES) this.set({ status, type }, 0);
      for (const r of rows) this.set({ status: r.status, type: r.type }, Number(r.n));
    },
  });

  // One queue read (GetQueueAttributes, or one query) serves the three queue gauges of a scrape.
  let stats: ReturnType<JobQueue['stats']> | undefined;
  const queueStats = () => {
    stats ??= deps.queue.stats();
    return stats;
  };
  new Gauge({
    name: 'jobs_queue_scrape_ok',
    help: '1 when the queue figures of this scrape could be read, else 0 (the queue gauges are then absent).',
    registers: [registry],
    async collect() {
      const ok = await queueStats().then(
        () => 1,
        (err: unknown) => {
          deps.logger.warn({ err }, 'metrics: cannot read queue stats');
          return 0;
        },
      );
      this.set(ok);
    },
  });
  new Gauge({
    name: 'jobs_queue_messages',
    help: 'Queue messages by state: waiting (visible, or not yet published to SQS), in_flight (received, not deleted), dead_letter.',
    labelNames: ['state'],
    registers: [registry],
    async collect() {
      this.reset();
      const s = await queueStats().catch(() => undefined);
      if (!s) return;
      this.set({ state: 'waiting' }, s.waiting);
      this.set({ state: 'in_flight' }, s.inFlight);
      this.set({ state: 'dead_letter' }, s.deadLetters);
    },
  });
  new Gauge({
    name: 'jobs_queue_oldest_message_age_seconds',
    help: 'Age of the oldest message not yet deleted (database queue); with SQS, of the oldest outbox row not yet sent: a backlog held back for fair sharing, or a stuck relay (the oldest SQS message age is a CloudWatch metric).',
    registers: [registry],
    async collect() {
      this.reset();
      const s = await queueStats().catch(() => undefined);
      if (s) this.set(s.oldestAgeSeconds);
    },
  });

  const duration = new Histogram({
    name: 'jobs_job_duration_seconds',
    help: 'Time from a job’s start to its end, by type and final status (observed as jobs end).',
    labelNames: ['type', 'status'],
    buckets: [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600, 3 * 3600, 12 * 3600],
    registers: [registry],
  });
  // Observed from this process's first scrape on, not from its start: an API nobody scrapes (the
  // embedded server, a throughput run) then takes no notification of every job's every change
  // for a histogram no one reads (0.3 ms of CPU per job: BENCHMARKS.md, throughput), and a scraper
  // loses nothing, since its rates begin at its first sample anyway.
  let observing: Promise<unknown> | undefined;
  const observeEnds = () =>
    (observing ??= deps.live
      .subscribe((e) => {
        if (e.k === 'job' && typeof e.secs === 'number')
          duration.observe({ type: e.type, status: e.status }, e.secs);
      })
      .catch((err: unknown) => {
        observing = undefined; // the next scrape tries again
        deps.logger.warn({ err }, 'metrics: cannot listen for job changes');
      }));

  new Gauge({
    name: 'jobs_live_subscribers',
    help: 'Open live streams (SSE) and other listeners of this process’s job-change channel.',
    registers: [registry],
    collect() {
      this.set(deps.live.subscribers);
    },
  });

  const latency = new Histogram({
    name: 'http_request_duration_seconds',
    help: 'HTTP request latency by method, route pattern and status (event streams excluded).',
    labelNames: ['method', 'route', 'status_code'],
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 120],
    registers: [registry],
  });
  const streams = new Counter({
    name: 'http_event_streams_total',
    help: 'Event streams (SSE) opened, by route pattern.',
    labelNames: ['route'],
    registers: [registry],
  });

  const http: RequestHandler = (req, res, next) => {
    const end = latency.startTimer();
    res.on('finish', () => record());
    res.on('close', () => record());
    let done = false;
    const record = () => {
      if (done) return;
      done = true;
      const route = routePattern(req);
      if (String(res.getHeader('content-type') ?? '').startsWith('text/event-stream')) {
        streams.inc({ route });
        return;
      }
      end({ method: req.method, route, status_code: String(res.statusCode) });
    };
    next();
  };

  const handler: RequestHandler = async (_req, res) => {
    await observeEnds();
    stats = undefined; // read the queue afresh, once, for this scrape
    const body = await registry.metrics();
    res.setHeader('Content-Type', registry.contentType);
    res.send(body);
  };

  return { registry, http, handler };
}

/**
 * The route pattern that served a request (`/api/jobs/:id`), not its URL: one series per route
 * however many job ids there are; `unmatched` for 404s of unknown paths. Derived from the
 * matched route and the original URL, because `req.baseUrl` is already unwound when a route
 * passed an error on.
 */
function routePattern(req: Request): string {
  if (!req.route) return 'unmatched';
  const routePath = String(req.route.path);
  const path = req.originalUrl.split('?')[0].replace(/\/+$/, '');
  const depth = routePath === '/' ? 0 : routePath.split('/').length - 1;
  const segments = path.split('/');
  const base = segments.slice(0, segments.length - depth).join('/');
  return `${base}${routePath === '/' ? '' : routePath}` || '/';
}
