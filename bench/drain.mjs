#!/usr/bin/env node
// Drain: a backlog of noop jobs, already queued, run by `jobs worker` processes on PostgreSQL:
// the bulk-operation case, where every worker slot finds work and none waits.
//
//   node bench/drain.mjs [--jobs 6000] [--workers 4] [--concurrency 2] [--repeat 3]
//                        [--baseline DIR]   (another built checkout: its rows alternate with these)
//                        [--postgres postgresql://root@127.0.0.1:5432/test]
//
// Each round: a fresh scratch database, `jobs server --no-worker`, `--jobs` jobs submitted through
// POST /api/jobs/batch (1,000 per request), then the workers started; the clock runs from their
// start until the database says every job is COMPLETED (polled every 50 ms). Transactions as in
// bench:throughput (transactionCounter: those that wrote, and all of them with the LISTEN
// deliveries); CPU per job of the workers and of the PostgreSQL backends still connected at the end.
import path from 'node:path';
import { parseArgs } from 'node:util';
import {
  cleanup,
  cpuMsOf,
  DEFAULT_PG,
  fmt,
  lightApi,
  median,
  pgClient,
  printContext,
  printTable,
  ROOT,
  scratchDatabase,
  sleep,
  startJobsServer,
  startJobsWorkers,
  transactionCounter,
} from './lib.mjs';

const { values } = parseArgs({
  options: {
    jobs: { type: 'string', default: '6000' },
    workers: { type: 'string', default: '4' },
    concurrency: { type: 'string', default: '2' },
    repeat: { type: 'string', default: '3' },
    baseline: { type: 'string' },
    postgres: { type: 'string', default: DEFAULT_PG },
  },
});
const N = Number(values.jobs);
const WORKERS = Number(values.workers);
const CONCURRENCY = Number(values.concurrency);

const cpuOf = (pids) =>
  pids.reduce((sum, pid) => {
    try {
      return sum + cpuMsOf(pid);
    } catch {
      return sum; // gone since it was listed
    }
  }, 0);

async function drain(root) {
  const db = await scratchDatabase(values.postgres);
  const server = await startJobsServer({
    env: { DATABASE_URL: db.url },
    args: ['--no-worker'],
    bin: path.join(root, 'bin', 'run.js'),
  });
  const count = await pgClient(db.url);
  let workers;
  try {
    const call = lightApi(server.url, server.token);
    for (let left = N; left > 0; left -= 1000) {
      const size = Math.min(1000, left);
      await call('POST', '/api/jobs/batch', { jobs: Array.from({ length: size }, () => ({ type: 'noop' })) });
    }
    const tx = await transactionCounter(count);
    const t0 = performance.now();
    workers = await startJobsWorkers(server, WORKERS, CONCURRENCY);
    let polls = 0;
    for (;;) {
      polls++;
      const { rows } = await count.query(`SELECT count(*)::int AS n FROM jobs WHERE status = 'COMPLETED'`);
      if (rows[0].n >= N) break;
      await sleep(50);
    }
    const seconds = (performance.now() - t0) / 1000;
    const { rows } = await count.query(
      `SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()`,
    );
    const postgres = cpuOf(rows.map((r) => r.pid)) / N;
    const worker = cpuOf(workers.pids) / N;
    await tx.end();
    await workers.stop();
    await count.end();
    await server.stop();
    const { writes, all } = await tx.settled(db.url, polls + 3);
    return { seconds, worker, postgres, writes: writes / N, all: all / N };
  } finally {
    await workers?.stop();
    await count.end().catch(() => {});
    await server.stop();
    await db.drop();
  }
}

const systems = [
  ['jobs worker (this checkout)', ROOT],
  ...(values.baseline ? [['baseline: jobs worker', path.resolve(values.baseline)]] : []),
];
const results = new Map(systems.map(([name]) => [name, []]));
try {
  printContext(
    `drain: ${N} queued noop jobs, ${WORKERS} worker processes × concurrency ${CONCURRENCY}, PostgreSQL`,
  );
  for (let rep = 0; rep < Number(values.repeat); rep++) {
    for (const [name, root] of systems) {
      const r = await drain(root);
      results.get(name).push(r);
      console.error(
        `${name}: ${fmt.int(N / r.seconds)} jobs/s, ${r.all.toFixed(1)} transactions per job in all`,
      );
    }
  }
} finally {
  await cleanup();
}

const base = results.get(systems[1]?.[0]);
printTable(
  [
    'system',
    'runs',
    'drain (median)',
    'jobs/s',
    'write transactions per job',
    'all transactions per job (LISTEN deliveries too)',
    'CPU per job: workers',
    'CPU per job: postgres',
    'vs baseline',
  ],
  systems.map(([name]) => {
    const rs = results.get(name);
    const secs = median(rs.map((r) => r.seconds));
    return [
      name,
      rs.length,
      `${secs.toFixed(2)} s`,
      fmt.int(N / secs),
      median(rs.map((r) => r.writes)).toFixed(1),
      median(rs.map((r) => r.all)).toFixed(1),
      `${median(rs.map((r) => r.worker)).toFixed(2)} ms`,
      `${median(rs.map((r) => r.postgres)).toFixed(2)} ms`,
      base ? fmt.ratio(median(base.map((r) => r.seconds)) / secs) : '–',
    ];
  }),
);
