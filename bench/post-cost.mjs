#!/usr/bin/env node
// CPU per POST /api/jobs: the API server's own CPU time (utime + stime from /proc) per request,
// for `--requests` JSON submits of a noop job, `--in-flight` at a time, against `jobs server
// --no-worker` on a scratch PostgreSQL database. What bench:throughput's REST row spends in the
// API process, measured without the workers beside it.
//
//   node bench/post-cost.mjs [--requests 2000] [--in-flight 8] [--baseline DIR] [--cpu-prof DIR]
//                            [--repeat N]   (rounds alternate the checkouts; the table gives medians)
//                            [--paired]     (with --baseline: both servers at once, each request to
//                                            them in turn, so both see the same load on the machine)
import fs from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import {
  api,
  median,
  cleanup,
  cpuMsOf,
  lightApi,
  DEFAULT_PG,
  printContext,
  printTable,
  ROOT,
  scratchDatabase,
  startJobsServer,
} from './lib.mjs';

const { values } = parseArgs({
  options: {
    requests: { type: 'string', default: '2000' },
    'in-flight': { type: 'string', default: '8' },
    baseline: { type: 'string' },
    'cpu-prof': { type: 'string' },
    // The submitter: fetch (as bench:throughput's REST row before), or node:http keep-alive.
    client: { type: 'string', default: 'fetch' },
    postgres: { type: 'string', default: DEFAULT_PG },
    // Rounds, alternating this checkout and the baseline: on a shared machine one run moves by
    // ±30%, so a before/after is the median of several.
    repeat: { type: 'string', default: '1' },
    paired: { type: 'boolean', default: false },
  },
});
const N = Number(values.requests);
const IN_FLIGHT = Number(values['in-flight']);
const cpuMs = cpuMsOf;

/** CPU of every PostgreSQL process on this machine (the local server), in ms. */
function postgresCpuMs() {
  let total = 0;
  for (const pid of fs.readdirSync('/proc').filter((d) => /^\d+$/.test(d))) {
    try {
      if (fs.readFileSync(`/proc/${pid}/comm`, 'utf8').trim() === 'postgres') total += cpuMs(pid);
    } catch {
      // exited meanwhile
    }
  }
  return total;
}

async function run(root) {
  const db = await scratchDatabase(values.postgres);
  const nodeArgs = values['cpu-prof'] ? ['--cpu-prof', `--cpu-prof-dir=${values['cpu-prof']}`] : [];
  const server = await startJobsServer({
    env: { DATABASE_URL: db.url },
    args: ['--no-worker'],
    bin: path.join(root, 'bin', 'run.js'),
    nodeArgs,
  });
  try {
    const call = (values.client === 'http' ? lightApi : api)(server.url, server.token);
    const burst = async (n) => {
      let next = 0;
      await Promise.all(
        Array.from({ length: IN_FLIGHT }, async () => {
          while (next++ < n) await call('POST', '/api/jobs', { type: 'noop' });
        }),
      );
    };
    await burst(200); // warm-up: JIT, pool connections, prepared statements
    const cpu0 = cpuMs(server.pid);
    const pg0 = postgresCpuMs();
    const client0 = process.cpuUsage();
    const t0 = performance.now();
    await burst(N);
    const secs = (performance.now() - t0) / 1000;
    const client = process.cpuUsage(client0);
    const pgMs = (postgresCpuMs() - pg0) / N;
    return {
      serverMs: (cpuMs(server.pid) - cpu0) / N,
      clientMs: (client.user + client.system) / 1000 / N,
      rate: N / secs,
      pgMs,
    };
  } finally {
    await server.stop();
    await db.drop();
  }
}

/**
 * Both checkouts' servers at once, on a scratch database each; each of the IN_FLIGHT submitters
 * sends its requests to the two in turn. CPU per request of each server over the same seconds:
 * on a shared machine, a before/after that other sessions' load moves alike.
 */
async function runPaired(roots) {
  const started = [];
  try {
    for (const root of roots) {
      const db = await scratchDatabase(values.postgres);
      const server = await startJobsServer({
        env: { DATABASE_URL: db.url },
        args: ['--no-worker'],
        bin: path.join(root, 'bin', 'run.js'),
      });
      started.push({ db, server, call: lightApi(server.url, server.token) });
    }
    const burst = async (n) => {
      let next = 0;
      await Promise.all(
        Array.from({ length: IN_FLIGHT }, async () => {
          for (;;) {
            const i = next++;
            if (i >= n) return;
            await started[i % started.length].call('POST', '/api/jobs', { type: 'noop' });
          }
        }),
      );
    };
    await burst(200 * started.length); // warm-up: JIT, pool connections, prepared statements
    const cpu0 = started.map((s) => cpuMs(s.server.pid));
    const t0 = performance.now();
    await burst(N * started.length);
    const secs = (performance.now() - t0) / 1000;
    return started.map((s, i) => ({
      serverMs: (cpuMs(s.server.pid) - cpu0[i]) / N,
      clientMs: NaN,
      rate: N / secs,
      pgMs: NaN,
    }));
  } finally {
    for (const s of started) {
      await s.server.stop();
      await s.db.drop();
    }
  }
}

const rows = [['this checkout', ROOT]];
if (values.baseline) rows.push(['baseline', path.resolve(values.baseline)]);
const rounds = new Map(rows.map(([name]) => [name, []]));
try {
  printContext(
    `POST /api/jobs cost: ${N} requests, ${IN_FLIGHT} in flight, client ${values.client}, jobs server --no-worker, PostgreSQL`,
  );
  for (let rep = 0; rep < Number(values.repeat); rep++) {
    if (values.paired && rows.length > 1) {
      const rs = await runPaired(rows.map(([, root]) => root));
      rows.forEach(([name], i) => {
        rounds.get(name).push(rs[i]);
        console.error(`${name}: API server CPU ${rs[i].serverMs.toFixed(2)} ms per request (paired)`);
      });
      continue;
    }
    for (const [name, root] of rows) {
      const r = await run(root);
      rounds.get(name).push(r);
      console.error(
        `${name}: ${r.rate.toFixed(0)} requests/s, API server CPU ${r.serverMs.toFixed(2)} ms per request`,
      );
    }
  }
} finally {
  await cleanup();
}
const results = rows.map(([name]) => {
  const rs = rounds.get(name);
  const med = (k) => median(rs.map((r) => r[k]));
  return [
    name,
    { rate: med('rate'), serverMs: med('serverMs'), clientMs: med('clientMs'), pgMs: med('pgMs') },
  ];
});
printTable(
  [
    'server',
    'runs',
    'requests/s',
    'API server CPU per request',
    `client CPU per request (${values.client})`,
    'PostgreSQL CPU per request (whole server)',
  ],
  results.map(([name, r]) => [
    name,
    Number(values.repeat),
    r.rate.toFixed(0),
    `${r.serverMs.toFixed(2)} ms`,
    // Not measured apart in --paired rounds (one client, one PostgreSQL for both servers).
    Number.isNaN(r.clientMs) ? '–' : `${r.clientMs.toFixed(2)} ms`,
    Number.isNaN(r.pgMs) ? '–' : `${r.pgMs.toFixed(2)} ms`,
  ]),
);
