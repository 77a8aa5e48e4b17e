#!/usr/bin/env node
// Enqueue: noop jobs recorded and queued per second through batch submits on PostgreSQL, against
// pg-boss insert() and graphile-worker addJobs() of the same jobs on the same server.
//
//   npm run bench:install   # once: the peers, in bench/node_modules
//   npm run bench:enqueue [-- --jobs 20000] [-- --batch 1000] [-- --repeat 3] [-- --in-flight 1]
//                         [-- --single 2000] [-- --postgres postgresql://root@127.0.0.1:5432/test]
//                         [-- --only TEXT]
//
// Every system gets a fresh scratch database and the same submitter: this process sending
// `--jobs` noop jobs in batches of `--batch`, `--in-flight` batches at a time (default one after
// the other). Nothing consumes them (no worker runs): this is the cost of getting jobs in. The
// clock runs from the first batch sent to the last one answered; the database is then checked to
// hold every job. One warm-up batch of 10 jobs goes first, untimed (connections, prepared plans).
// - jobs, REST API: POST /api/jobs/batch {jobs:[{type:'noop'}…]} to `jobs server --no-worker`
//   (HTTP with a bearer token, validation per job, the rows and their queue messages in one
//   transaction, the answer with every job).
// - jobs, JobsService.createMany: the same call in this process (no HTTP).
// - jobs, REST one by one: POST /api/jobs per job, 8 in flight, on `--single` jobs (the path
//   before batches; 0 skips it).
// - pg-boss: boss.insert(queue, jobs) per batch (one multi-row INSERT).
// - graphile-worker: workerUtils.addJobs(specs) per batch.
// Rounds alternate the systems (--repeat); the table gives each one's median.
import path from 'node:path';
import { parseArgs } from 'node:util';
import {
  api,
  cleanup,
  DEFAULT_PG,
  fmt,
  median,
  once,
  pgClient,
  printContext,
  printTable,
  ROOT,
  scratchDatabase,
  transactionCounter,
  startJobsServer,
} from './lib.mjs';

const { values } = parseArgs({
  options: {
    jobs: { type: 'string', default: '20000' },
    batch: { type: 'string', default: '1000' },
    'in-flight': { type: 'string', default: '1' },
    single: { type: 'string', default: '2000' },
    repeat: { type: 'string', default: '3' },
    postgres: { type: 'string', default: DEFAULT_PG },
    only: { type: 'string' },
  },
});
const N = Number(values.jobs);
const BATCH = Number(values.batch);
const IN_FLIGHT = Number(values['in-flight']);
const SINGLE = Number(values.single);
const WARM_UP = 10;
const QUEUE = 'bench';

/** Calls `send(size)` for batches covering n jobs, `inFlight` at a time. */
async function sendAll(n, batch, inFlight, send) {
  let left = n;
  await Promise.all(
    Array.from({ length: inFlight }, async () => {
      while (left > 0) {
        const size = Math.min(batch, left);
        left -= size;
        await send(size);
      }
    }),
  );
}

/**
 * Times `n` jobs sent by `send` in batches (after a warm-up batch), checks that `count()` then
 * says every job is there, and counts the database's transactions meanwhile (transactionCounter):
 * per 1,000 jobs, those that wrote and, once `settle()` is called with the system stopped, all.
 */
async function timeIt({ n, batch, inFlight }, send, count, stats) {
  await send(WARM_UP);
  const tx = await transactionCounter(stats);
  const t0 = performance.now();
  await sendAll(n, batch, inFlight, send);
  const seconds = (performance.now() - t0) / 1000;
  await tx.end();
  const stored = await count();
  if (stored !== n + WARM_UP) throw new Error(`${stored} jobs stored, expected ${n + WARM_UP}`);
  return {
    n,
    seconds,
    /** With the system stopped: its transactions per 1,000 jobs (our two counts and check not). */
    async settle(url) {
      const { writes, all } = await tx.settled(url, 3);
      return { writesPerThousand: (writes / n) * 1000, allPerThousand: (all / n) * 1000 };
    },
  };
}

async function jobsSystem(via) {
  const db = await scratchDatabase(values.postgres);
  const server = await startJobsServer({ env: { DATABASE_URL: db.url }, args: ['--no-worker'] });
  const stats = await pgClient(db.url);
  let close = async () => {};
  const stop = once(async () => {
    await close();
    await stats.end();
    await server.stop();
  });
  try {
    const run = { n: N, batch: BATCH, inFlight: IN_FLIGHT };
    let send;
    if (via === 'rest') {
      const call = api(server.url, server.token);
      send = async (size) => {
        const res = await call('POST', '/api/jobs/batch', {
          jobs: Array.from({ length: size }, () => ({ type: 'noop' })),
        });
        if (res.created !== size)
          throw new Error(`batch: ${JSON.stringify(res.results.find((r) => r.error))}`);
      };
    } else if (via === 'single') {
      Object.assign(run, { n: SINGLE, batch: 1, inFlight: 8 });
      const call = api(server.url, server.token);
      send = async (size) => {
        for (let i = 0; i < size; i++) await call('POST', '/api/jobs', { type: 'noop' });
      };
    } else {
      const dist = (p) => import(path.join(ROOT, 'dist', p));
      const { loadConfig } = await dist('core/config.js');
      const { compose } = await dist('compose/compose.js');
      const { AuthService } = await dist('core/auth/auth-service.js');
      const { JobsService } = await dist('core/jobs/jobs-service.js');
      // The platform as `jobs server` composes it (the server migrated the database): what the
      // batch route calls, without HTTP.
      const platform = await compose(loadConfig({ DATABASE_URL: db.url, JOBS_LOG_LEVEL: 'warn' }), {
        migrate: false,
      });
      close = () => platform.close();
      const { db: database, store, types } = platform.api;
      const owner = await new AuthService(database.prisma).authenticate(server.token);
      const jobs = new JobsService(database.prisma, store, types);
      send = async (size) => {
        const out = await jobs.createMany(
          owner,
          Array.from({ length: size }, () => ({ type: 'noop' })),
        );
        if (out.some((o) => o.error)) throw new Error(out.find((o) => o.error).error.message);
      };
    }
    const r = await timeIt(
      run,
      send,
      async () => (await stats.query(`SELECT count(*)::int AS n FROM jobs`)).rows[0].n,
      stats,
    );
    await stop();
    return { ...r, ...(await r.settle(db.url)) };
  } finally {
    await stop();
    await db.drop();
  }
}

async function peerSystem(peer) {
  const db = await scratchDatabase(values.postgres);
  const stats = await pgClient(db.url);
  let client;
  const stop = once(async () => {
    if (peer === 'pg-boss') await client?.stop({ graceful: false, wait: true });
    else await client?.release();
    await stats.end();
  });
  try {
    let send;
    let count;
    if (peer === 'pg-boss') {
      const { PgBoss } = await import('pg-boss');
      client = new PgBoss({ connectionString: db.url, schedule: false, supervise: false });
      client.on('error', (err) => console.error(err));
      await client.start();
      await client.createQueue(QUEUE);
      send = async (size) => {
        await client.insert(
          QUEUE,
          Array.from({ length: size }, () => ({ data: {} })),
        );
      };
      count = async () =>
        (await stats.query(`SELECT count(*)::int AS n FROM pgboss.job WHERE name = $1`, [QUEUE])).rows[0].n;
    } else {
      const { makeWorkerUtils } = await import('graphile-worker');
      client = await makeWorkerUtils({ connectionString: db.url });
      await client.migrate();
      send = async (size) => {
        await client.addJobs(Array.from({ length: size }, () => ({ identifier: QUEUE, payload: {} })));
      };
      count = async () =>
        (await stats.query(`SELECT count(*)::int AS n FROM graphile_worker._private_jobs`)).rows[0].n;
    }
    const r = await timeIt({ n: N, batch: BATCH, inFlight: IN_FLIGHT }, send, count, stats);
    await stop();
    return { ...r, ...(await r.settle(db.url)) };
  } finally {
    await stop();
    await db.drop();
  }
}

const REST = `jobs: REST API, POST /api/jobs/batch (${BATCH} per request)`;
const systems = [
  [REST, () => jobsSystem('rest')],
  [`jobs: JobsService.createMany (in process, ${BATCH} per call)`, () => jobsSystem('service')],
  ...(SINGLE > 0
    ? [['jobs: REST API, POST /api/jobs one job per request (8 in flight)', () => jobsSystem('single')]]
    : []),
  [`pg-boss 12.38.0: insert() of ${BATCH}`, () => peerSystem('pg-boss')],
  [`graphile-worker 0.18.0: addJobs() of ${BATCH}`, () => peerSystem('graphile-worker')],
].filter(([name]) => !values.only || name.includes(values.only));

const results = new Map(systems.map(([name]) => [name, []]));
try {
  printContext(
    `enqueue: ${N} noop jobs in batches of ${BATCH}, ${IN_FLIGHT} batch${IN_FLIGHT > 1 ? 'es' : ''} in flight, no worker, PostgreSQL`,
  );
  for (let rep = 0; rep < Number(values.repeat); rep++) {
    for (const [name, run] of systems) {
      const r = await run();
      results.get(name).push(r);
      console.error(`${name}: ${fmt.int(r.n / r.seconds)} jobs/s (${r.n} in ${r.seconds.toFixed(2)} s)`);
    }
  }
} finally {
  await cleanup();
}

const rate = (name) => {
  const rs = results.get(name);
  return rs && rs.length ? median(rs.map((r) => r.n / r.seconds)) : NaN;
};
const boss = rate(systems.find(([n]) => n.startsWith('pg-boss'))?.[0]);
const graphile = rate(systems.find(([n]) => n.startsWith('graphile'))?.[0]);
printTable(
  [
    'system',
    'runs',
    'jobs',
    'time (median)',
    'jobs/s (median)',
    'write transactions per 1,000 jobs',
    'all transactions per 1,000 jobs',
    'vs pg-boss insert()',
    'vs graphile-worker addJobs()',
  ],
  systems.map(([name]) => {
    const rs = results.get(name);
    const r = rate(name);
    return [
      name,
      rs.length,
      fmt.int(rs[0].n),
      `${median(rs.map((x) => x.seconds)).toFixed(2)} s`,
      fmt.int(r),
      fmt.int(median(rs.map((x) => x.writesPerThousand))),
      fmt.int(median(rs.map((x) => x.allPerThousand))),
      fmt.ratio(r / boss),
      fmt.ratio(r / graphile),
    ];
  }),
);
const target = rate(REST);
if (Number.isFinite(target))
  console.log(
    `Target ≥ 5,000 jobs/s through REST: ${fmt.int(target)} jobs/s (${target >= 5000 ? 'met' : 'missed'})`,
  );
