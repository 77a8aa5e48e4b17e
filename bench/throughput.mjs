#!/usr/bin/env node
// Throughput: noop jobs per second end to end (submitted → completed) on PostgreSQL, 2 worker
// processes, against pg-boss and graphile-worker running an empty job on the same server.
//
//   npm run bench:install   # once: the peers, in bench/node_modules
//   npm run bench:throughput [-- --jobs 2000] [-- --workers 2] [-- --concurrency 2] [-- --repeat 2]
//                            [-- --postgres postgresql://root@127.0.0.1:5432/test] [-- --only TEXT]
//                            [-- --cpu-prof DIR]   (a CPU profile of each jobs process)
//                            [-- --baseline DIR]   (the jobs rows again, from another built
//                                                   checkout: a before/after in the same run)
//                            [-- --client fetch]   (the REST submitter: node:http by default)
//
// The second jobs row has scheduling on: the same REST submits from 4 owners with mixed
// priorities (issue 15: it must stay within 0.8× of the plain REST row).
//
// Every system gets a fresh scratch database, `--workers` worker processes of `--concurrency`
// each (idle and connected before the clock starts), and the same submitter: this process
// sending `--jobs` jobs, `--in-flight` (8) at a time, each job inserted on its own (no bulk
// insert). The clock runs from the first submit until the database says every job is done
// (polled every 20 ms):
// - jobs, REST API: POST /api/jobs {type:'noop'} to `jobs server --no-worker` (auth, validation,
//   the job row and its queue message in one transaction, NOTIFY), `jobs worker` processes
//   (claim with SKIP LOCKED, run-job: lease, log lines, status writes); done = status COMPLETED.
// - jobs, JobsService: the same, with JobsService.create called in this process (no HTTP).
// - pg-boss: boss.send() here; workers boss.work() with localConcurrency, a notify queue
//   (LISTEN/NOTIFY) and 0.5 s polling, fetching one job at a time (like jobs and graphile-worker)
//   and, as a second row, batches of 10 (burstWhenBatchFull); done = state 'completed'. The
//   "vs pg-boss" column compares with the one-job-per-fetch row.
// - graphile-worker: addJob() here; workers run() with the concurrency; done = the job row gone.
// Rounds alternate the systems (--repeat); the table gives each one's median.
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import { parseArgs } from 'node:util';
import {
  api,
  cleanup,
  cpuMsOf,
  lightApi,
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
  sleep,
  startJobsServer,
  startJobsWorkers,
  startNodeChild,
} from './lib.mjs';

const { values } = parseArgs({
  options: {
    jobs: { type: 'string', default: '2000' },
    workers: { type: 'string', default: '2' },
    concurrency: { type: 'string', default: '2' },
    'in-flight': { type: 'string', default: '8' },
    repeat: { type: 'string', default: '2' },
    postgres: { type: 'string', default: DEFAULT_PG },
    only: { type: 'string' },
    // Writes a V8 CPU profile of each jobs process (server and workers) into this directory.
    'cpu-prof': { type: 'string' },
    // Another checkout of jobs, built (`npm run build`): its rows run beside this one's.
    baseline: { type: 'string' },
    // The REST rows' submitter: node:http with a keep-alive agent (default), or fetch, which
    // costs this process ~0.5 ms of CPU per request against ~0.15 (bench/post-cost.mjs): CPU the
    // measured system then lacks on a 2-core machine.
    client: { type: 'string', default: 'http' },
  },
});
const N = Number(values.jobs);
const WORKERS = Number(values.workers);
const CONCURRENCY = Number(values.concurrency);
const IN_FLIGHT = Number(values['in-flight']);
const QUEUE = 'bench';
/** The scheduling row: jobs from this many owners, with these priorities in turn. */
const OWNERS = 4;
const PRIORITIES = [0, 5, -5, 10, 0];

/** Calls `submit(i)` for i in 0..n-1, `inFlight` at a time. */
async function submitAll(n, inFlight, submit) {
  let next = 0;
  await Promise.all(
    Array.from({ length: inFlight }, async () => {
      while (next < n) await submit(next++);
    }),
  );
}

/**
 * CPU milliseconds so far of every process a system runs on this machine, keyed `part:pid`: this
 * process (the submitter), the given child processes, and the PostgreSQL backends serving the
 * scratch database (all but `stats`'s own, which the bench polls with).
 */
async function cpuSampler(stats, parts) {
  const ms = (pid) => {
    try {
      return cpuMsOf(pid);
    } catch {
      return 0; // gone since it was listed
    }
  };
  return async () => {
    const { rows } = await stats.query(
      `SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()`,
    );
    const { user, system } = process.cpuUsage();
    const out = { 'submitter:self': (user + system) / 1000 };
    for (const [part, pids] of Object.entries(parts)) for (const pid of pids) out[`${part}:${pid}`] = ms(pid);
    for (const { pid } of rows) out[`postgres:${pid}`] = ms(pid);
    return out;
  };
}

/** Each part's CPU per job between two samples (a process that appeared meanwhile counts from 0). */
function cpuPerJob(before, after) {
  const parts = {};
  for (const [key, v] of Object.entries(after)) {
    const part = key.slice(0, key.indexOf(':'));
    parts[part] = (parts[part] ?? 0) + (v - (before[key] ?? 0)) / N;
  }
  return parts;
}

/**
 * Times one system: submit everything, then wait for `doneCount()` to reach N. Also counts the
 * database's transactions meanwhile (transactionCounter): `writes` per job, the commits each job
 * costs, and, once `settle()` is called with the system stopped, `all` per job (read-only
 * statements and LISTEN deliveries too), this bench's own reads subtracted.
 */
async function timeIt(submit, doneCount, stats, cpuOf) {
  const tx = await transactionCounter(stats);
  const cpu0 = await cpuOf();
  let polls = 0;
  const t0 = performance.now();
  let submittedAt;
  const submitting = submitAll(N, IN_FLIGHT, submit).then(() => (submittedAt = performance.now()));
  let failed;
  submitting.catch((err) => (failed = err));
  for (;;) {
    if (failed) throw failed;
    polls++;
    if ((await doneCount()) >= N) break;
    await sleep(20);
  }
  await submitting;
  const t1 = performance.now();
  const cpu1 = await cpuOf();
  await tx.end();
  return {
    cpu: cpuPerJob(cpu0, cpu1),
    seconds: (t1 - t0) / 1000,
    submitSeconds: (submittedAt - t0) / 1000,
    /** With the system stopped: its transactions per job (our polls, CPU samples and counts not). */
    async settle(url) {
      const { writes, all } = await tx.settled(url, polls + 4);
      return { writesPerJob: writes / N, allPerJob: all / N };
    },
  };
}

async function jobsSystem(via, root = ROOT) {
  const db = await scratchDatabase(values.postgres);
  const profile = values['cpu-prof'] ? ['--cpu-prof', `--cpu-prof-dir=${values['cpu-prof']}`] : [];
  const server = await startJobsServer({
    env: { DATABASE_URL: db.url },
    args: ['--no-worker'],
    bin: path.join(root, 'bin', 'run.js'),
    nodeArgs: profile,
  });
  const workers = await startJobsWorkers(server, WORKERS, CONCURRENCY, profile);
  const count = await pgClient(db.url);
  let close = async () => {};
  const stop = once(async () => {
    await close();
    await count.end();
    await workers.stop();
    await server.stop();
  });
  try {
    let submit;
    if (via === 'rest') {
      const call = (values.client === 'fetch' ? api : lightApi)(server.url, server.token);
      submit = () => call('POST', '/api/jobs', { type: 'noop' });
    } else if (via === 'rest-fair') {
      // Scheduling on: OWNERS users (a token each), each job a priority from PRIORITIES in turn,
      // so the claim ranks candidates from OWNERS × PRIORITIES keys round the owners.
      const admin = lightApi(server.url, server.token);
      const calls = [];
      for (let o = 0; o < OWNERS; o++) {
        const { token } = await admin('POST', '/api/tokens', { user: `bench-owner-${o}` });
        calls.push((values.client === 'fetch' ? api : lightApi)(server.url, token));
      }
      submit = (i) =>
        calls[i % OWNERS]('POST', '/api/jobs', {
          type: 'noop',
          priority: PRIORITIES[Math.floor(i / OWNERS) % PRIORITIES.length],
        });
    } else {
      const dist = (p) => import(path.join(root, 'dist', p));
      const { loadConfig } = await dist('core/config.js');
      const { compose } = await dist('compose/compose.js');
      const { AuthService } = await dist('core/auth/auth-service.js');
      const { JobsService } = await dist('core/jobs/jobs-service.js');
      // The platform as `jobs server` composes it (the server has migrated the database); its
      // API parts give what POST /api/jobs calls, without HTTP.
      const platform = await compose(loadConfig({ DATABASE_URL: db.url, JOBS_LOG_LEVEL: 'warn' }), {
        migrate: false,
      });
      close = () => platform.close();
      const { db: database, store, types } = platform.api;
      const owner = await new AuthService(database.prisma).authenticate(server.token);
      const jobs = new JobsService(database.prisma, store, types);
      submit = () => jobs.create(owner, { id: randomUUID(), type: 'noop', params: {} });
    }
    const r = await timeIt(
      submit,
      async () => {
        const { rows } = await count.query(`SELECT count(*)::int AS n FROM jobs WHERE status = 'COMPLETED'`);
        return rows[0].n;
      },
      count,
      await cpuSampler(count, { api: [server.pid], workers: workers.pids }),
    );
    const { rows } = await count.query(`SELECT count(*)::int AS n FROM jobs WHERE status <> 'COMPLETED'`);
    if (rows[0].n > 0) throw new Error(`${rows[0].n} jobs did not complete`);
    await stop();
    return { ...r, ...(await r.settle(db.url)) };
  } finally {
    await stop();
    await db.drop();
  }
}

async function peerSystem(peer, batch = 1) {
  const db = await scratchDatabase(values.postgres);
  const count = await pgClient(db.url);
  let client;
  let pool;
  let submit;
  let doneCount;
  let workers = [];
  const stop = once(async () => {
    await Promise.all(workers.map((w) => w.stop()));
    if (peer === 'pg-boss') await client?.stop({ graceful: false, wait: true });
    else {
      await client?.release();
      await pool?.end();
    }
    await count.end();
  });
  try {
    if (peer === 'pg-boss') {
      const { PgBoss } = await import('pg-boss');
      client = new PgBoss({ connectionString: db.url, schedule: false, supervise: false });
      client.on('error', (err) => console.error(err));
      await client.start();
      await client.createQueue(QUEUE, { notify: true });
      submit = () => client.send(QUEUE, {});
      doneCount = async () => {
        const { rows } = await count.query(
          `SELECT count(*)::int AS n FROM pgboss.job WHERE name = $1 AND state = 'completed'`,
          [QUEUE],
        );
        return rows[0].n;
      };
    } else {
      const { makeWorkerUtils } = await import('graphile-worker');
      const { default: pg } = await import('pg');
      // Its own pool, with an error listener: an idle connection terminated by someone else on a
      // shared server (a test suite's pg_terminate_backend) would otherwise crash the bench.
      pool = new pg.Pool({ connectionString: db.url });
      pool.on('error', () => {});
      client = await makeWorkerUtils({ pgPool: pool });
      await client.migrate();
      let added = 0;
      submit = async () => {
        await client.addJob(QUEUE, {});
        added++;
      };
      // A job's row is deleted when it succeeds; failures stay (and would hang the count).
      doneCount = async () => {
        const { rows } = await count.query(`SELECT count(*)::int AS n FROM graphile_worker._private_jobs`);
        return added - rows[0].n;
      };
    }
    workers = await Promise.all(
      Array.from({ length: WORKERS }, () =>
        startNodeChild(
          [path.join(ROOT, 'bench', 'peer-worker.mjs'), peer, db.url, String(CONCURRENCY), String(batch)],
          {
            ready: /^ready$/m,
          },
        ),
      ),
    );
    await sleep(500);
    const r = await timeIt(
      submit,
      doneCount,
      count,
      await cpuSampler(count, { workers: workers.map((w) => w.pid) }),
    );
    await stop();
    return { ...r, ...(await r.settle(db.url)) };
  } finally {
    await stop();
    await db.drop();
  }
}

const baseline = values.baseline && path.resolve(values.baseline);
const systems = [
  ['jobs: REST API (POST /api/jobs) → jobs worker', () => jobsSystem('rest')],
  [
    `jobs: REST API, priorities and fair sharing (${OWNERS} owners, priorities ${PRIORITIES.join('/')}) → jobs worker`,
    () => jobsSystem('rest-fair'),
  ],
  ['jobs: JobsService.create (in process) → jobs worker', () => jobsSystem('service')],
  ...(baseline
    ? [
        ['baseline jobs: REST API (POST /api/jobs) → jobs worker', () => jobsSystem('rest', baseline)],
        [
          'baseline jobs: JobsService.create (in process) → jobs worker',
          () => jobsSystem('service', baseline),
        ],
      ]
    : []),
  ['pg-boss 12.38.0: send() → work(), one job per fetch', () => peerSystem('pg-boss')],
  ['pg-boss 12.38.0: send() → work(), batches of 10', () => peerSystem('pg-boss', 10)],
  ['graphile-worker 0.18.0: addJob() → run()', () => peerSystem('graphile-worker')],
].filter(([name]) => !values.only || name.includes(values.only));

const results = new Map(systems.map(([name]) => [name, []]));
try {
  printContext(
    `throughput: ${N} noop jobs, ${WORKERS} worker processes × concurrency ${CONCURRENCY}, ${IN_FLIGHT} submits in flight, REST client ${values.client === 'fetch' ? 'fetch' : 'node:http'}, PostgreSQL`,
  );
  for (let rep = 0; rep < Number(values.repeat); rep++) {
    for (const [name, run] of systems) {
      const r = await run();
      results.get(name).push(r);
      const cpu = `; CPU per job: ${Object.entries(r.cpu)
        .map(([part, ms]) => `${part} ${ms.toFixed(2)} ms`)
        .join(', ')}`;
      console.error(
        `${name}: ${(N / r.seconds).toFixed(0)} jobs/s (submitted in ${r.submitSeconds.toFixed(2)} s)${cpu}`,
      );
    }
  }
} finally {
  await cleanup();
}

const rate = (name) => {
  const rs = results.get(name);
  return rs && rs.length ? N / median(rs.map((r) => r.seconds)) : NaN;
};
const boss = rate(systems.find(([n]) => n.startsWith('pg-boss') && n.endsWith('one job per fetch'))?.[0]);
const graphile = rate(systems.find(([n]) => n.startsWith('graphile'))?.[0]);
printTable(
  [
    'system',
    'runs',
    'end to end (median)',
    'jobs/s',
    'submit phase alone',
    'write transactions per job',
    'all transactions per job (LISTEN deliveries too)',
    'vs pg-boss (one job per fetch)',
    'vs graphile-worker',
  ],
  systems.map(([name]) => {
    const rs = results.get(name);
    const secs = median(rs.map((r) => r.seconds));
    const sub = median(rs.map((r) => r.submitSeconds));
    return [
      name,
      rs.length,
      `${secs.toFixed(2)} s`,
      fmt.int(N / secs),
      `${sub.toFixed(2)} s (${fmt.int(N / sub)}/s)`,
      median(rs.map((r) => r.writesPerJob)).toFixed(1),
      median(rs.map((r) => r.allPerJob)).toFixed(1),
      fmt.ratio(N / secs / boss),
      fmt.ratio(N / secs / graphile),
    ];
  }),
);

// Where each system's CPU goes: every process of it on this machine, per job (medians). On 2
// cores, the total bounds the rate: 2,000 ms of CPU a second / total ms per job.
const PARTS = ['submitter', 'api', 'workers', 'postgres'];
console.log('');
printTable(
  ['system', ...PARTS.map((p) => `CPU per job: ${p}`), 'total', 'bound on 2 cores'],
  systems.map(([name]) => {
    const rs = results.get(name);
    const per = PARTS.map((p) => (rs.some((r) => p in r.cpu) ? median(rs.map((r) => r.cpu[p] ?? 0)) : null));
    const total = median(rs.map((r) => Object.values(r.cpu).reduce((a, b) => a + b, 0)));
    return [
      name,
      ...per.map((ms) => (ms === null ? '–' : `${ms.toFixed(2)} ms`)),
      `${total.toFixed(2)} ms`,
      `${fmt.int(2000 / total)}/s`,
    ];
  }),
);
