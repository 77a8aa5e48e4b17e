#!/usr/bin/env node
// Latency on an idle server: submit → RUNNING, and a log line written → shown by
// `jobs logs ID --follow`, p50/p99, embedded (PGlite) and on PostgreSQL.
//
//   npm run bench:latency [-- --samples 40] [-- --rounds 20] [-- --postgres postgresql://…] [-- --no-postgres]
//
// - submit → RUNNING: one noop job at a time, POST /api/jobs from this process; the latency is the
//   job's startedAt (set by the worker's claim) minus the time just before the POST. Also shown:
//   the server-side part, startedAt − createdAt (queue wake-up and claim).
// - log line → shown: the real CLI, `jobs logs ID --follow --json`, spawned while job ID is still
//   PENDING behind a blocker job (the server runs one job at a time, the blocker sleeps long
//   enough for the CLI to start and attach). ID is a noop that sleeps 300 ms, so it writes two
//   lines: "attempt 1 of 3 started" (through the log writer's batching) and "completed in …"
//   (flushed as the job finishes). Each line's latency is the moment its JSON appears on the CLI's
//   stdout minus its `ts` (stamped when the handler logged it). This measures whatever transport
//   the CLI's follow uses (polling the logs endpoint, or SSE): re-run it after changing that.
// One clock: the bench, the server and the CLI all run on this machine.
import { parseArgs } from 'node:util';
import {
  api,
  BIN,
  cleanup,
  DEFAULT_PG,
  fmt,
  percentile,
  printContext,
  printTable,
  runToEnd,
  scratchDatabase,
  sleep,
  spawnNode,
  startJobsServer,
} from './lib.mjs';

const { values } = parseArgs({
  options: {
    samples: { type: 'string', default: '40' },
    rounds: { type: 'string', default: '20' },
    postgres: { type: 'string', default: DEFAULT_PG },
    'no-postgres': { type: 'boolean' },
  },
});

async function waitEnded(call, id) {
  for (;;) {
    const job = await call('GET', `/api/jobs/${id}`);
    if (['COMPLETED', 'FAILED', 'CANCELLED'].includes(job.status)) return job;
    await sleep(50);
  }
}

async function submitToRunning(server) {
  const call = api(server.url, server.token);
  const total = [];
  const serverSide = [];
  for (let i = 0; i < Number(values.samples); i++) {
    const t0 = Date.now();
    const { id } = await call('POST', '/api/jobs', { type: 'noop' });
    const job = await waitEnded(call, id);
    total.push(Date.parse(job.startedAt) - t0);
    serverSide.push(Date.parse(job.startedAt) - Date.parse(job.createdAt));
    await sleep(100); // idle between samples
  }
  return { total, serverSide };
}

/** `jobs logs ID --follow --json`; resolves each line's delay (stdout arrival − ts) by kind. */
function follow(server, id) {
  const child = spawnNode([BIN, 'logs', id, '--follow', '--json'], server.cliEnv);
  const lines = [];
  let buf = '';
  child.stdout.on('data', (d) => {
    const now = Date.now();
    buf += d;
    let nl;
    while ((nl = buf.indexOf('\n')) !== -1) {
      const text = buf.slice(0, nl);
      buf = buf.slice(nl + 1);
      if (!text.trim()) continue;
      const line = JSON.parse(text);
      lines.push({ message: line.message, ms: now - Date.parse(line.ts) });
    }
  });
  let err = '';
  child.stderr.on('data', (d) => (err += d));
  return new Promise((resolve, reject) =>
    child.on('exit', (code) =>
      code === 0 ? resolve(lines) : reject(new Error(`jobs logs exited ${code}: ${err}`)),
    ),
  );
}

async function logLatency(server) {
  const call = api(server.url, server.token);
  // How long the CLI takes to start and make a request here: the blocker must outlast it.
  const probe = await call('POST', '/api/jobs', { type: 'noop' });
  await waitEnded(call, probe.id);
  const start = await runToEnd(process.execPath, [BIN, 'logs', probe.id, '--json'], { env: server.cliEnv });
  const blockMs = Math.max(1500, Math.ceil(start.ms * 2.5));
  const batched = [];
  const final = [];
  let skipped = 0;
  for (let i = 0; i < Number(values.rounds); i++) {
    const blocker = await call('POST', '/api/jobs', { type: 'noop', params: { sleepMs: blockMs } });
    const job = await call('POST', '/api/jobs', { type: 'noop', params: { sleepMs: 300 } });
    const spawnedAt = Date.now();
    const lines = await follow(server, job.id);
    const ended = await call('GET', `/api/jobs/${job.id}`);
    await waitEnded(call, blocker.id);
    // The follower must have been attached before the job started; otherwise its lines were
    // already written when it arrived and the sample would measure the CLI's start-up.
    if (Date.parse(ended.startedAt) - spawnedAt < start.ms) {
      skipped++;
      continue;
    }
    for (const l of lines) {
      if (l.message.startsWith('attempt')) batched.push(l.ms);
      else if (l.message.startsWith('completed')) final.push(l.ms);
    }
    await sleep(100);
  }
  return { batched, final, skipped, cliStartMs: start.ms, blockMs };
}

const rows = [];
try {
  printContext('latency: idle server, p50/p99 (targets p50 < 20 ms, p99 < 250 ms)');
  const modes = [['embedded (PGlite)', {}]];
  if (!values['no-postgres'])
    modes.push(['PostgreSQL', { DATABASE_URL: (await scratchDatabase(values.postgres)).url }]);
  for (const [mode, env] of modes) {
    const server = await startJobsServer({ env, args: ['--concurrency', '1'] });
    try {
      await sleep(1000);
      const s = await submitToRunning(server);
      const l = await logLatency(server);
      const all = [...l.batched, ...l.final];
      const row = (what, xs, note = '') => {
        const p50 = percentile(xs, 50);
        const p99 = percentile(xs, 99);
        return [
          mode,
          what,
          xs.length,
          fmt.ms(p50),
          fmt.ms(p99),
          fmt.ms(Math.max(...xs)),
          p50 < 20 && p99 < 250 ? 'yes' : 'no',
          note,
        ];
      };
      rows.push(row('submit → RUNNING (POST sent → startedAt)', s.total));
      rows.push(row('  of which server side (createdAt → startedAt)', s.serverSide));
      const note = `CLI start-up ${Math.round(l.cliStartMs)} ms; blocker ${l.blockMs} ms; ${l.skipped} rounds skipped (follower late)`;
      rows.push(row('log line → shown by `jobs logs --follow` (all lines)', all, note));
      rows.push(row('  a line mid-job (through the log writer’s batching)', l.batched));
      rows.push(row('  the last line (flushed as the job ends)', l.final));
    } finally {
      await server.stop();
    }
  }
} finally {
  await cleanup();
}
printTable(['database', 'what', 'samples', 'p50', 'p99', 'max', 'on target?', 'notes'], rows);
