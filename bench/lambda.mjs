#!/usr/bin/env node
// Lambda: the processor zip's size and its cold start, a fresh `node` loading the unpacked zip and
// handling one SQS event (targets: zip < 5 MB, cold start < 300 ms).
//
//   npm run bench:lambda [-- --runs 7] [-- --postgres postgresql://root@127.0.0.1:5432/test]
//                        [-- --before OTHER.zip] [-- --node /path/to/node]
//
// scripts/build-lambda.mjs builds dist-lambda/processor.zip; it is unpacked into a temp directory
// holding nothing else (no node_modules). Each run is a new `node` process given what the Lambda
// runtime gives, configured as the stacks configure the function (stacks/processor.ts): the
// database URL without its password plus JOBS_DATABASE_SECRET_ARN (the password comes from a
// stand-in for Secrets Manager's GetSecretValue on 127.0.0.1), the S3 bucket and SQS queue on a
// fauxqs emulator in its own process; and one event, a message for a PENDING job. It imports
// index.mjs, calls handler(event, context) and exits. Two jobs per round, each in its own cold
// process: a noop (no input) and a csv-import of a 1 KB CSV in S3, the first job that needs the
// S3 client (which the Lambda loads only then).
//
// Figures, medians over the runs:
// - INIT: process start → index.mjs imported (what Lambda's INIT phase runs before any event);
// - init + first job: spawn → the process's exit right after the handler answered (node's own
//   start-up, INIT, the cold start's config, Secrets Manager, clients, the job, its writes);
// - the CPU time (user + system, every thread) that process used: what a Lambda with a fraction
//   of a vCPU (1,769 MB = one vCPU) waits for; less sensitive to this machine's load than wall.
// The baseline, in the same run, is `node -e 0`: node's start-up alone on this machine now.
// --before measures another zip (e.g. one built from main) in the same run, interleaved, so a
// change is compared on the same load; --node runs the cold processes with another node binary
// (the stacks deploy nodejs22.x; this machine has Node 20).
import { createHash, randomUUID } from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
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
    before: { type: 'string' },
    node: { type: 'string', default: process.execPath },
  },
});
const RUNS = Number(values.runs);
const NODE = values.node;
const SECRET_ARN = 'arn:aws:secretsmanager:us-east-1:000000000000:secret:jobs-bench-db';

// What each cold run executes (an ES module given on the command line). performance.now() counts
// from the process's start.
const COLD = `
const { handler } = await import(process.argv[1]);
const loaded = performance.now();
const event = { Records: [{ messageId: 'm1', receiptHandle: 'r1', body: JSON.stringify({ jobId: process.argv[2] }),
  attributes: { ApproximateReceiveCount: '1' }, messageAttributes: {}, md5OfBody: '', eventSource: 'aws:sqs',
  eventSourceARN: 'arn:aws:sqs:us-east-1:000000000000:jobs', awsRegion: 'us-east-1' }] };
const context = { getRemainingTimeInMillis: () => 60_000, awsRequestId: 'bench', functionName: 'jobs-processor' };
const res = await handler(event, context);
const done = performance.now();
if (res.batchItemFailures.length) { console.error(JSON.stringify(res)); process.exit(1); }
const cpu = process.cpuUsage();
console.log(JSON.stringify({ loaded, done, cpuMs: (cpu.user + cpu.system) / 1000 }));
process.exit(0);`;

/** Unpacks `zip` into a new empty directory; returns it with the zip's and its JavaScript's sizes. */
function unpack(zip) {
  const dir = workDir('jobs-bench-lambda-');
  const AdmZip = createRequire(path.join(ROOT, 'package.json'))('adm-zip');
  new AdmZip(zip).extractAllTo(dir, true);
  const js = fs
    .readdirSync(dir)
    .filter((f) => f.endsWith('.mjs'))
    .reduce((n, f) => n + fs.statSync(path.join(dir, f)).size, 0);
  return { dir, zipBytes: fs.statSync(zip).size, jsBytes: js };
}

/** Secrets Manager's GetSecretValue, as the processor's cold start calls it, on 127.0.0.1. */
async function startSecretsStandIn(secretString) {
  const server = http.createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      res.setHeader('content-type', 'application/x-amz-json-1.1');
      res.end(JSON.stringify({ ARN: SECRET_ARN, Name: 'jobs-bench-db', SecretString: secretString }));
    });
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${server.address().port}`, stop: () => server.close() };
}

const rows = [];
let variants;
try {
  printContext('lambda: bundle size and cold start (targets zip < 5 MB, cold start < 300 ms)');
  const build = await runToEnd(process.execPath, [path.join(ROOT, 'scripts', 'build-lambda.mjs')]);
  if (build.code !== 0) throw new Error(`build-lambda failed: ${build.stderr}`);
  variants = [
    ...(values.before ? [{ name: 'before', ...unpack(path.resolve(values.before)) }] : []),
    { name: 'after', ...unpack(path.join(ROOT, 'dist-lambda', 'processor.zip')) },
  ];
  for (const v of variants) v.runs = { noop: [], csv: [] };

  const db = await scratchDatabase(values.postgres);
  const migrate = await runToEnd(process.execPath, [BIN, 'db', 'migrate'], { env: { DATABASE_URL: db.url } });
  if (migrate.code !== 0) throw new Error(`jobs db migrate failed: ${migrate.stderr}`);
  const emu = await startEmulator();
  const { S3Client, PutObjectCommand } = await import('@aws-sdk/client-s3');
  const { SQSClient, CreateQueueCommand } = await import('@aws-sdk/client-sqs');
  const aws = {
    region: 'us-east-1',
    endpoint: emu.env.JOBS_S3_ENDPOINT,
    credentials: { accessKeyId: 'test', secretAccessKey: 'test' },
  };
  const s3 = new S3Client({ ...aws, forcePathStyle: true });
  const sqs = new SQSClient(aws);
  const { QueueUrl } = await sqs.send(new CreateQueueCommand({ QueueName: 'jobs-bench' }));
  // The stacks give DATABASE_URL without its password and the secret holds {username,password}.
  const dbUrl = new URL(db.url);
  const secrets = await startSecretsStandIn(
    JSON.stringify({ username: decodeURIComponent(dbUrl.username), password: 'from-the-secret' }),
  );
  const c = await pgClient(db.url);
  const owner = randomUUID();
  await c.query(`INSERT INTO users (id, name, role) VALUES ($1, 'bench', 'user')`, [owner]);
  const env = {
    ...emu.env,
    DATABASE_URL: db.url,
    JOBS_DATABASE_SECRET_ARN: SECRET_ARN,
    AWS_ENDPOINT_URL_SECRETS_MANAGER: secrets.url,
    JOBS_SQS_QUEUE_URL: QueueUrl,
    JOBS_SQS_ENDPOINT: emu.env.JOBS_S3_ENDPOINT,
    // Off by default on SQS deployments; the bench's first job is one.
    JOBS_ENABLE_NOOP: 'true',
    JOBS_LOG_LEVEL: 'warn',
    AWS_LAMBDA_FUNCTION_NAME: 'jobs-processor',
    NODE_OPTIONS: '',
  };
  const csv = Buffer.from(
    'id,name,email\n' +
      Array.from({ length: 30 }, (_, i) => `${i},name ${i},n${i}@example.com`).join('\n') +
      '\n',
  );

  /** A PENDING job of `kind` (its input put in S3 first); resolves its id. */
  async function newJob(kind) {
    const id = randomUUID();
    if (kind === 'noop') {
      await c.query(`INSERT INTO jobs (id, type, params, owner_id) VALUES ($1, 'noop', '{}', $2)`, [
        id,
        owner,
      ]);
      return id;
    }
    const key = `inputs/${owner}/${id}`;
    await s3.send(new PutObjectCommand({ Bucket: emu.env.JOBS_S3_BUCKET, Key: key, Body: csv }));
    await c.query(
      `INSERT INTO jobs (id, type, params, owner_id, input_key, input_name, input_size, input_sha256)
       VALUES ($1, 'csv-import', '{}', $2, $3, 'people.csv', $4, $5)`,
      [id, owner, key, csv.length, createHash('sha256').update(csv).digest('hex')],
    );
    return id;
  }

  const baseline = [];
  for (let i = 0; i < RUNS; i++) {
    const base = await runToEnd(NODE, ['-e', '0']);
    baseline.push(base.ms);
    const line = [`node -e 0: ${base.ms.toFixed(0)} ms`];
    for (const kind of ['noop', 'csv'])
      for (const v of variants) {
        const jobId = await newJob(kind);
        const run = await runToEnd(
          NODE,
          ['--input-type=module', '-e', COLD, path.join(v.dir, 'index.mjs'), jobId],
          {
            env,
            cwd: v.dir,
          },
        );
        if (run.code !== 0) throw new Error(`cold run (${v.name}, ${kind}) failed: ${run.stderr}`);
        const r = JSON.parse(run.stdout.trim().split('\n').at(-1));
        const {
          rows: [job],
        } = await c.query(`SELECT status, error FROM jobs WHERE id = $1`, [jobId]);
        if (job.status !== 'COMPLETED')
          throw new Error(`the ${kind} job is ${job.status} after the cold run (${v.name}): ${job.error}`);
        v.runs[kind].push({ wall: run.ms, ...r });
        line.push(`${v.name} ${kind} ${run.ms.toFixed(0)} ms`);
      }
    console.error(`run ${i + 1}: ${line.join(', ')}`);
  }
  await c.end();
  s3.destroy();
  sqs.destroy();
  secrets.stop();
  await emu.stop();

  const cols = (f) => variants.map(f);
  const onTarget = (ms) => (ms < 300 ? 'yes' : 'no');
  const m = (v, kind, f) => median(v.runs[kind].map(f));
  const after = variants.at(-1);
  rows.push([
    'zip',
    ...cols((v) => `${(v.zipBytes / 1e6).toFixed(2)} MB`),
    '< 5 MB',
    after.zipBytes < 5e6 ? 'yes' : 'no',
  ]);
  rows.push(['JavaScript in it', ...cols((v) => `${(v.jsBytes / 1e6).toFixed(2)} MB`), '', '']);
  rows.push(['baseline: `node -e 0`', ...cols(() => fmt.ms(median(baseline))), '', '']);
  rows.push([
    'INIT: process start → index.mjs imported',
    ...cols((v) => fmt.ms(m(v, 'noop', (r) => r.loaded))),
    '',
    '',
  ]);
  for (const [kind, what] of [
    ['noop', 'first job a noop'],
    ['csv', 'first job reads a 1 KB S3 input'],
  ]) {
    rows.push([
      `init + first job (${what}): spawn → exit`,
      ...cols((v) => fmt.ms(m(v, kind, (r) => r.wall))),
      kind === 'noop' ? '< 300 ms' : '',
      kind === 'noop' ? onTarget(m(after, kind, (r) => r.wall)) : '',
    ]);
    rows.push([
      '  … minus node’s own start-up (baseline)',
      ...cols((v) => fmt.ms(m(v, kind, (r) => r.wall) - median(baseline))),
      '',
      '',
    ]);
    rows.push([
      '  … of which the event: index.mjs imported → job done',
      ...cols((v) => fmt.ms(m(v, kind, (r) => r.done - r.loaded))),
      '',
      '',
    ]);
    rows.push([
      '  … CPU time of that process (user + system)',
      ...cols((v) => fmt.ms(m(v, kind, (r) => r.cpuMs))),
      '',
      '',
    ]);
  }
  rows.push([
    'init + first job (noop): fastest of the runs',
    ...cols((v) => fmt.ms(Math.min(...v.runs.noop.map((r) => r.wall)))),
    '',
    '',
  ]);
  rows.push(['runs (cold processes per job kind)', ...cols(() => RUNS), '', '']);
} finally {
  await cleanup();
}
const node = (await runToEnd(NODE, ['-v'])).stdout.trim();
console.log(`Cold processes: node ${node}${values.before ? `; before: ${values.before}` : ''}\n`);
printTable(['what', ...variants.map((v) => v.name), 'target', 'on target?'], rows);
