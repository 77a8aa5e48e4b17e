#!/usr/bin/env node
// Scale: GET /api/jobs and GET /api/jobs/:id/logs p50/p99 with 10k, 100k and 1M jobs and with a
// job of 10k and 1M log lines; the baseline is the same query at 10k. Target: p99 < 25 ms at 1M
// and growth no worse than logarithmic (p99 at N / p99 at 10k ≤ log N / log 10k, 1.5 at 1M).
//
//   npm run bench:scale [-- --sizes 10000,100000,1000000] [-- --samples 200]
//                       [-- --postgres postgresql://…] [-- --no-postgres] [-- --no-embedded]
//
// Rows are bulk-loaded with SQL (generate_series) straight into the database of a
// `jobs server --no-worker` (PostgreSQL: a scratch database, loaded while the server runs;
// embedded: the server is stopped, the bench opens its PGlite directory, loads, and starts it
// again). The jobs belong to two users, the caller (admin, a quarter of them) and another; 1% are
// FAILED, 10% csv-import. Each query runs `--samples` times one after another (after 10 warm-up
// calls) over loopback HTTP, so a figure is what a client sees: auth, the query, JSON.
import { createRequire } from 'node:module';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import {
  api,
  cleanup,
  DEFAULT_PG,
  fmt,
  percentile,
  pgClient,
  printContext,
  printTable,
  ROOT,
  scratchDatabase,
  startJobsServer,
  startJobsServerIn,
  workDir,
} from './lib.mjs';

const { values } = parseArgs({
  options: {
    sizes: { type: 'string', default: '10000,100000,1000000' },
    'log-sizes': { type: 'string', default: '10000,1000000' },
    samples: { type: 'string', default: '200' },
    postgres: { type: 'string', default: DEFAULT_PG },
    'no-postgres': { type: 'boolean' },
    'no-embedded': { type: 'boolean' },
  },
});
const SIZES = values.sizes.split(',').map(Number);
const LOG_SIZES = values['log-sizes'].split(',').map(Number);
const SAMPLES = Number(values.samples);

const loadJobs = (owner, other, from, to) => `
  INSERT INTO jobs (id, type, status, params, owner_id, attempts, result, created_at, updated_at, started_at, finished_at)
  SELECT gen_random_uuid(),
         CASE WHEN i % 10 = 3 THEN 'csv-import' ELSE 'noop' END,
         (CASE WHEN i % 100 = 7 THEN 'FAILED' ELSE 'COMPLETED' END)::"JobStatus",
         '{"sleepMs":0}'::jsonb,
         CASE WHEN i % 4 = 0 THEN '${owner}'::uuid ELSE '${other}'::uuid END,
         1, '{"ok":true}'::jsonb, ts, ts, ts, ts
  FROM (SELECT i, timestamptz '2025-01-01' + i * interval '1 second' AS ts FROM generate_series(${from}, ${to}) i) s`;
const loadLogs = (job, from, to) => `
  INSERT INTO job_logs (job_id, seq, ts, level, message)
  SELECT '${job}'::uuid, s, timestamptz '2025-01-01' + s * interval '1 millisecond', 'info', 'line ' || s || ' of the log'
  FROM generate_series(${from}, ${to}) s;
  UPDATE jobs SET log_seq = ${to} WHERE id = '${job}'::uuid;`;
const addOther = (id) =>
  `INSERT INTO users (id, name, role) VALUES ('${id}'::uuid, 'bench-other', 'user') ON CONFLICT DO NOTHING`;

/**
 * Times GET `p` SAMPLES times, each right after GET /api/me (auth and JSON, no job query: the
 * floor on this machine at that moment); { p50, p99, floor50, floor99 } in ms.
 */
async function timeQuery(url, token, p) {
  const get = async (path) => {
    const t0 = performance.now();
    const res = await fetch(`${url}${path}`, { headers: { authorization: `Bearer ${token}` } });
    const body = await res.text();
    if (!res.ok) throw new Error(`GET ${path}: ${res.status} ${body}`);
    JSON.parse(body);
    return performance.now() - t0;
  };
  for (let i = 0; i < 10; i++) await get(p);
  const ms = [];
  const floor = [];
  for (let i = 0; i < SAMPLES; i++) {
    floor.push(await get('/api/me'));
    ms.push(await get(p));
  }
  return {
    p50: percentile(ms, 50),
    p99: percentile(ms, 99),
    floor50: percentile(floor, 50),
    floor99: percentile(floor, 99),
  };
}

/** The queries, given what is loaded: name → path. */
async function queries(call, logJob, logLines, jobsLoaded) {
  // The second page: what a client asks for next (the cursor is the 100th job's).
  const first = await call('GET', '/api/jobs?limit=100');
  // A page half-way down: the cursor of a loaded job's creation time (loaded job i was created
  // at 2025-01-01 + i s), with the highest id so that job is on the page.
  const midAt = new Date(
    Date.parse('2025-01-01T00:00:00Z') + Math.floor(jobsLoaded / 2) * 1000,
  ).toISOString();
  const deep = Buffer.from(`${midAt}|ffffffff-ffff-4fff-bfff-ffffffffffff`).toString('base64url');
  const q = {
    'GET /api/jobs (own, newest 20)': '/api/jobs',
    'GET /api/jobs?status=FAILED': '/api/jobs?status=FAILED',
    'GET /api/jobs?type=csv-import': '/api/jobs?type=csv-import',
    'GET /api/jobs?all=true': '/api/jobs?all=true',
    'GET /api/jobs?cursor=… (page after the first 100)': `/api/jobs?cursor=${first.nextCursor}`,
    'GET /api/jobs?cursor=… (a page half-way down)': `/api/jobs?cursor=${deep}`,
  };
  if (logJob) {
    q[`GET logs (first 1000 of ${logLines.toLocaleString('en-US')})`] = `/api/jobs/${logJob}/logs`;
    q['GET logs?after=middle'] = `/api/jobs/${logJob}/logs?after=${Math.floor(logLines / 2)}`;
    q['GET logs?after=end−100 (a follower)'] = `/api/jobs/${logJob}/logs?after=${logLines - 100}`;
  }
  return q;
}

async function runMode(mode) {
  const results = [];
  let server;
  let exec;
  const embedded = mode === 'embedded (PGlite)';
  let db;
  let closeExec = async () => {};
  if (embedded) {
    server = await startJobsServer({ args: ['--no-worker'], dir: workDir('jobs-bench-scale-') });
    const req = createRequire(path.join(ROOT, 'package.json'));
    const { PGlite } = await import(pathToFileURL(req.resolve('@electric-sql/pglite')).href);
    // The server owns the directory while it runs: stop it, load, start it again.
    exec = async (sql) => {
      await server.stop();
      const pg = await PGlite.create(path.join(server.env.JOBS_DATA_DIR, 'db'));
      await pg.exec(sql);
      await pg.exec('ANALYZE');
      await pg.close();
      server = await startJobsServerIn(server.env, ['--no-worker']);
    };
  } else {
    db = await scratchDatabase(values.postgres);
    server = await startJobsServer({ env: { DATABASE_URL: db.url }, args: ['--no-worker'] });
    const c = await pgClient(db.url);
    closeExec = () => c.end();
    exec = async (sql) => {
      await c.query(sql);
      await c.query('ANALYZE');
    };
  }
  try {
    let call = api(server.url, server.token);
    const me = await call('GET', '/api/me');
    const other = '00000000-0000-4000-8000-000000000001';
    const logJob = (await call('POST', '/api/jobs', { type: 'noop' })).id;
    let loaded = 0;
    let logsLoaded = 0;
    const steps = [...new Set([...SIZES, ...LOG_SIZES])].sort((a, b) => a - b);
    for (const n of steps) {
      let sql = '';
      if (SIZES.includes(n) && n > loaded) {
        sql += (loaded === 0 ? `${addOther(other)};` : '') + loadJobs(me.userId, other, loaded + 1, n) + ';';
      }
      if (LOG_SIZES.includes(n) && n > logsLoaded) sql += loadLogs(logJob, logsLoaded + 1, n);
      const t0 = performance.now();
      await exec(sql);
      console.error(
        `${mode}: loaded up to ${n.toLocaleString('en-US')} in ${((performance.now() - t0) / 1000).toFixed(1)} s`,
      );
      if (SIZES.includes(n)) loaded = n;
      if (LOG_SIZES.includes(n)) logsLoaded = n;
      call = api(server.url, server.token);
      const qs = await queries(call, LOG_SIZES.includes(n) ? logJob : undefined, n, loaded);
      for (const [name, p] of Object.entries(qs)) {
        if (!LOG_SIZES.includes(n) && name.startsWith('GET logs')) continue;
        if (!SIZES.includes(n) && name.startsWith('GET /api/jobs')) continue;
        const r = await timeQuery(server.url, server.token, p);
        results.push({ mode, name: name.replace(/ \(first 1000 of .*\)/, ' (first 1000)'), n, ...r });
        console.error(`  ${name} at ${n}: p50 ${fmt.ms(r.p50)} p99 ${fmt.ms(r.p99)}`);
      }
    }
  } finally {
    await closeExec();
    await server.stop();
  }
  return results;
}

const all = [];
try {
  printContext(
    'scale: list and log queries, p50/p99 over HTTP (target p99 < 25 ms at 1M, growth ≤ logarithmic)',
  );
  if (!values['no-embedded']) all.push(...(await runMode('embedded (PGlite)')));
  if (!values['no-postgres']) all.push(...(await runMode('PostgreSQL')));
} finally {
  await cleanup();
}

const rows = [];
for (const r of all) {
  const base = all.find(
    (b) =>
      b.mode === r.mode &&
      b.name === r.name &&
      b.n === Math.min(...all.filter((x) => x.mode === r.mode && x.name === r.name).map((x) => x.n)),
  );
  const growth = r.p99 / base.p99;
  const bound = Math.log(r.n) / Math.log(base.n);
  rows.push([
    r.mode,
    r.name,
    r.name.startsWith('GET logs') ? `${fmt.int(r.n)} lines` : `${fmt.int(r.n)} jobs`,
    fmt.ms(r.p50),
    fmt.ms(r.p99),
    r === base ? 'baseline' : `${fmt.ratio(growth)} (log bound ${bound.toFixed(2)}×)`,
    r.n >= 1_000_000 ? (r.p99 < 25 ? 'yes' : 'no') : '',
    `${fmt.ms(r.floor50)} / ${fmt.ms(r.floor99)}`,
    // What the query adds to the floor: the part that can grow with the table.
    fmt.ms(r.p50 - r.floor50),
    r === base ? 'baseline' : fmt.ratio((r.p50 - r.floor50) / (base.p50 - base.floor50)),
  ]);
}
printTable(
  [
    'database',
    'query',
    'rows',
    'p50',
    'p99',
    'p99 vs 10k',
    'p99 < 25 ms at 1M?',
    'floor p50 / p99 (GET /api/me, interleaved)',
    'own p50 (p50 − floor p50)',
    'own p50 vs 10k',
  ],
  rows,
);
