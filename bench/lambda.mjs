#!/usr/bin/env node
// Lambda: the processor bundle's zip size and its cold init, a fresh `node` loading the unpacked
// bundle and handling one SQS event (targets < 5 MB, < 300 ms).
//
//   npm run bench:lambda [-- --runs 7] [-- --postgres postgresql://root@127.0.0.1:5432/test]
//
// scripts/build-lambda.mjs builds dist-lambda/processor.zip; it is unpacked into a temp directory
// holding nothing else (no node_modules). Each run is a new `node` process given what the Lambda
// runtime gives: the environment (DATABASE_URL of a migrated scratch database, the S3 bucket on a
// fauxqs emulator in its own process) and one event, a message for a PENDING noop job. It imports
// index.mjs, calls handler(event, context) and exits. Cold init = spawn → handler resolved (node's
// own start-up, loading the bundle, config, Prisma and SDK clients, the first query, the job run).
// The baseline, in the same run, is `node -e 0`: node's start-up alone on this machine now.
import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { parseArgs } from 'node:util';
import {
  BIN,
  cleanup,
  DEFAULT_PG,
  fmt,
  median,
  pgClient,
  printContext,
  printTable,
  ROOT,
  runToEnd,
  scratchDatabase,
  startEmulator,
  workDir,
} from './lib.mjs';

const { values } = parseArgs({
  options: {
    runs: { type: 'string', default: '7' },
    postgres: { type: 'string', default: DEFAULT_PG },
  },
});
const RUNS = Number(values.runs);

// What each cold run executes (an ES module given on the command line).
const COLD = `
const t0 = performance.now();
const { handler } = await import(process.argv[1]);
const loaded = performance.now();
const event = { Records: [{ messageId: 'm1', receiptHandle: 'r1', body: JSON.stringify({ jobId: process.argv[2] }),
  attributes: { ApproximateReceiveCount: '1' }, messageAttributes: {}, md5OfBody: '', eventSource: 'aws:sqs',
  eventSourceARN: 'arn:aws:sqs:us-east-1:000000000000:jobs', awsRegion: 'us-east-1' }] };
const context = { getRemainingTimeInMillis: () => 60_000, awsRequestId: 'bench', functionName: 'jobs-processor' };
const res = await handler(event, context);
const done = performance.now();
if (res.batchItemFailures.length) { console.error(JSON.stringify(res)); process.exit(1); }
console.log(JSON.stringify({ nodeStart: t0, load: loaded - t0, firstEvent: done - loaded, sinceStart: done }));
process.exit(0);`;

const rows = [];
try {
  printContext('lambda: bundle size and cold init (targets zip < 5 MB, cold init < 300 ms)');
  const build = await runToEnd(process.execPath, [path.join(ROOT, 'scripts', 'build-lambda.mjs')]);
  if (build.code !== 0) throw new Error(`build-lambda failed: ${build.stderr}`);
  const zipPath = path.join(ROOT, 'dist-lambda', 'processor.zip');
  const zipBytes = fs.statSync(zipPath).size;
  const dir = workDir('jobs-bench-lambda-');
  const AdmZip = createRequire(path.join(ROOT, 'package.json'))('adm-zip');
  new AdmZip(zipPath).extractAllTo(dir, true);
  const unpacked = fs.readdirSync(dir).reduce((n, f) => n + fs.statSync(path.join(dir, f)).size, 0);
  const entry = path.join(dir, 'index.mjs');

  const db = await scratchDatabase(values.postgres);
  const migrate = await runToEnd(process.execPath, [BIN, 'db', 'migrate'], { env: { DATABASE_URL: db.url } });
  if (migrate.code !== 0) throw new Error(`jobs db migrate failed: ${migrate.stderr}`);
  const emu = await startEmulator();
  const c = await pgClient(db.url);
  const owner = randomUUID();
  await c.query(`INSERT INTO users (id, name, role) VALUES ($1, 'bench', 'user')`, [owner]);
  const env = {
    ...emu.env,
    DATABASE_URL: db.url,
    JOBS_LOG_LEVEL: 'warn',
    AWS_LAMBDA_FUNCTION_NAME: 'jobs-processor',
    NODE_OPTIONS: '',
  };

  const cold = [];
  const baseline = [];
  for (let i = 0; i < RUNS; i++) {
    const jobId = randomUUID();
    await c.query(`INSERT INTO jobs (id, type, params, owner_id) VALUES ($1, 'noop', '{}', $2)`, [
      jobId,
      owner,
    ]);
    const base = await runToEnd(process.execPath, ['-e', '0']);
    baseline.push(base.ms);
    const run = await runToEnd(process.execPath, ['--input-type=module', '-e', COLD, entry, jobId], {
      env,
      cwd: dir,
    });
    if (run.code !== 0) throw new Error(`cold run failed: ${run.stderr}`);
    const r = JSON.parse(run.stdout.trim().split('\n').at(-1));
    const {
      rows: [job],
    } = await c.query(`SELECT status FROM jobs WHERE id = $1`, [jobId]);
    if (job.status !== 'COMPLETED') throw new Error(`the job is ${job.status} after the cold run`);
    cold.push({ wall: run.ms, ...r });
    console.error(`run ${i + 1}: ${run.ms.toFixed(0)} ms (node -e 0: ${base.ms.toFixed(0)} ms)`);
  }
  await c.end();
  await emu.stop();

  const m = (f) => median(cold.map(f));
  rows.push([
    'zip (dist-lambda/processor.zip)',
    `${(zipBytes / 1e6).toFixed(2)} MB (${fmt.mib(zipBytes)})`,
    '< 5 MB',
    zipBytes < 5e6 ? 'yes' : 'no',
  ]);
  rows.push(['unpacked (index.mjs)', `${(unpacked / 1e6).toFixed(2)} MB`, '', '']);
  rows.push(['baseline: `node -e 0` (median)', fmt.ms(median(baseline)), '', '']);
  rows.push([
    'cold init: spawn → first event handled (median)',
    fmt.ms(m((r) => r.wall)),
    '< 300 ms',
    m((r) => r.wall) < 300 ? 'yes' : 'no',
  ]);
  rows.push([
    '  … minus node’s own start-up (baseline)',
    fmt.ms(m((r) => r.wall) - median(baseline)),
    '',
    '',
  ]);
  rows.push(['  of which: import index.mjs', fmt.ms(m((r) => r.load)), '', '']);
  rows.push([
    '  of which: first event (config, clients, claim, run, finish)',
    fmt.ms(m((r) => r.firstEvent)),
    '',
    '',
  ]);
  rows.push(['cold init: fastest of the runs', fmt.ms(Math.min(...cold.map((r) => r.wall))), '', '']);
  rows.push(['runs', RUNS, '', '']);
} finally {
  await cleanup();
}
printTable(['what', 'figure', 'target', 'on target?'], rows);
