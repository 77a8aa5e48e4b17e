#!/usr/bin/env node
// Peak memory of the server while a large CSV is uploaded and imported.
//
//   npm run bench:ingest-memory [-- --size-mb 1024] [-- --postgres postgresql://…] [-- --s3]
//
// 1. Baseline: a minimal Node HTTP server that pipes the request body to a file; the file is
//    POSTed to it with a streaming client (node:http request fed from a file stream).
// 2. jobs: a fresh `jobs server` (embedded PGlite; and, with --postgres, one on PostgreSQL);
//    `jobs submit FILE --type csv-import --wait` through the real CLI. Above
//    JOBS_DIRECT_UPLOAD_THRESHOLD (64 MiB) the CLI makes a direct upload: POST /api/uploads, PUT
//    parts to the part URLs, complete, create the job. With the directory store the part URLs
//    are signed URLs on the API itself, so the bytes still go through the API host.
// 3. --s3: the same, with the blob store on S3: fauxqs (S3 emulator, objects kept in memory) in
//    its own child process on 127.0.0.1, so its memory is counted in neither this process nor the
//    server; the part URLs are presigned S3 URLs and the bytes skip the API host.
// For each it prints the server's RSS before (idle), its peak RSS during the upload phase (from
// `jobs submit` starting, which includes the CLI hashing the file, to the job appearing in
// GET /api/jobs) and during the import phase (job created to job finished), and the bytes the
// server process read (rchar from /proc/PID/io: sockets and files) in each phase. Peaks are
// the kernel's own high-water mark (VmHWM), reset via /proc/PID/clear_refs at each phase
// boundary, so no sample is missed.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const BIN = path.join(ROOT, 'bin', 'run.js');
const { values } = parseArgs({
  options: {
    'size-mb': { type: 'string', default: '1024' },
    postgres: { type: 'string' },
    s3: { type: 'boolean' },
    keep: { type: 'boolean' },
  },
});
const sizeBytes = Number(values['size-mb']) * 1024 * 1024;
const work = fs.mkdtempSync(path.join(os.tmpdir(), 'jobs-bench-'));
const csvPath = path.join(work, 'input.csv');
const MB = 1024 * 1024;

/** Resets the kernel's peak-RSS counter (VmHWM), so start-up (e.g. PGlite's initdb) is not counted. */
function resetPeak(pid) {
  fs.writeFileSync(`/proc/${pid}/clear_refs`, '5');
}

/** Bytes the process has read through read-like syscalls (files and sockets alike). */
function readBytesOf(pid) {
  return Number(/rchar:\s+(\d+)/.exec(fs.readFileSync(`/proc/${pid}/io`, 'utf8'))[1]);
}

/** Every child still running, killed on the way out whatever happens. */
const children = new Set();
function track(child) {
  children.add(child);
  child.on('exit', () => children.delete(child));
  return child;
}
function killChildren() {
  for (const c of children) c.kill('SIGKILL');
}
process.on('exit', killChildren);
for (const sig of ['SIGINT', 'SIGTERM']) {
  process.on(sig, () => {
    killChildren();
    if (!values.keep) fs.rmSync(work, { recursive: true, force: true });
    process.exit(130);
  });
}

function memOf(pid) {
  const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (k) => Number(new RegExp(`${k}:\\s+(\\d+)`).exec(status)[1]) * 1024;
  return { rss: kb('VmRSS'), hwm: kb('VmHWM') };
}

async function writeCsv() {
  if (fs.existsSync(csvPath) && fs.statSync(csvPath).size >= sizeBytes) return;
  const out = fs.createWriteStream(csvPath);
  out.write('order_id,customer_email,quantity,unit_price,ordered_at,paid,note\n');
  let written = 0;
  let i = 0;
  while (written < sizeBytes) {
    let chunk = '';
    for (let k = 0; k < 2000; k++, i++) {
      chunk += `${i},user${i % 50000}@example.com,${i % 9},${(i % 1000) / 10},2025-${String((i % 12) + 1).padStart(2, '0')}-${String((i % 28) + 1).padStart(2, '0')},${i % 2 ? 'true' : 'false'},"note, with comma ${i}"\n`;
    }
    written += Buffer.byteLength(chunk);
    if (!out.write(chunk)) await new Promise((r) => out.once('drain', r));
  }
  await new Promise((r) => out.end(r));
}

function spawnNode(args, env) {
  return track(
    spawn(process.execPath, args, {
      cwd: ROOT,
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    }),
  );
}

/**
 * fauxqs in a child process, bound to loopback on a free port, with one bucket (created through
 * the SDK, as the tests do). Its request bodies are capped at 11 MiB: the server's parts are
 * 8 MiB up to 80 GB files.
 */
async function startEmulator() {
  const code = `
    import { buildApp } from 'fauxqs';
    const app = buildApp({ logger: false });
    await app.listen({ port: 0, host: '127.0.0.1' });
    console.log(app.server.address().port);
    process.on('SIGTERM', () => app.close().then(() => process.exit(0)));`;
  const child = track(
    spawn(process.execPath, ['--input-type=module', '-e', code], {
      cwd: ROOT,
      stdio: ['ignore', 'pipe', 'inherit'],
    }),
  );
  const port = await new Promise((resolve, reject) => {
    child.stdout.once('data', (d) => resolve(Number(String(d).trim())));
    child.once('exit', (c) => reject(new Error(`fauxqs exited ${c}`)));
  });
  const endpoint = `http://127.0.0.1:${port}`;
  const { S3Client, CreateBucketCommand } = await import('@aws-sdk/client-s3');
  const s3 = new S3Client({
    region: 'us-east-1',
    endpoint,
    forcePathStyle: true,
    credentials: { accessKeyId: 'test', secretAccessKey: 'test' },
  });
  const bucket = 'jobs-bench';
  await s3.send(new CreateBucketCommand({ Bucket: bucket }));
  s3.destroy();
  return {
    env: {
      JOBS_S3_BUCKET: bucket,
      JOBS_S3_ENDPOINT: endpoint,
      AWS_REGION: 'us-east-1',
      AWS_ACCESS_KEY_ID: 'test',
      AWS_SECRET_ACCESS_KEY: 'test',
    },
    peak: () => memOf(child.pid).hwm,
    async stop() {
      child.kill('SIGTERM');
      if (child.exitCode === null) await new Promise((r) => child.once('exit', r));
    },
  };
}

async function baseline() {
  // The server runs in its own process so its RSS is measured the same way.
  const code = `
    const http = require('node:http'); const fs = require('node:fs'); const { pipeline } = require('node:stream/promises');
    const s = http.createServer(async (req, res) => { await pipeline(req, fs.createWriteStream(process.argv[1])); res.end('ok'); });
    s.listen(0, '127.0.0.1', () => console.log(s.address().port));`;
  const child = track(
    spawn(process.execPath, ['-e', code, path.join(work, 'baseline.out')], {
      stdio: ['ignore', 'pipe', 'inherit'],
    }),
  );
  const port = await new Promise((r) => child.stdout.once('data', (d) => r(Number(String(d).trim()))));
  resetPeak(child.pid);
  const before = memOf(child.pid).rss;
  const read0 = readBytesOf(child.pid);
  const started = Date.now();
  await new Promise((resolve, reject) => {
    const req = http.request(
      {
        host: '127.0.0.1',
        port,
        method: 'POST',
        path: '/',
        headers: { 'content-length': fs.statSync(csvPath).size },
      },
      (res) => {
        res.resume();
        res.on('end', resolve);
      },
    );
    req.on('error', reject);
    pipeline(fs.createReadStream(csvPath, { highWaterMark: 1 << 20 }), req).catch(reject);
  });
  const seconds = (Date.now() - started) / 1000;
  const { hwm } = memOf(child.pid);
  const read = readBytesOf(child.pid) - read0;
  child.kill();
  await new Promise((r) => child.once('exit', r));
  return {
    name: 'baseline: node http → file',
    seconds,
    before,
    uploadPeak: hwm,
    uploadRead: read,
    note: `upload only, ${seconds.toFixed(1)} s`,
  };
}

async function jobsRun(name, extraEnv) {
  const dataDir = path.join(work, `data-${Math.random().toString(36).slice(2)}`);
  const configHome = path.join(work, `cfg-${Math.random().toString(36).slice(2)}`);
  const env = { JOBS_DATA_DIR: dataDir, XDG_CONFIG_HOME: configHome, JOBS_LOG_LEVEL: 'warn', ...extraEnv };
  const server = spawnNode([BIN, 'server', '--port', '0'], env);
  try {
    let err = '';
    const url = await new Promise((resolve, reject) => {
      server.stderr.on('data', (d) => {
        err += d;
        const m = /listening on (\S+)/.exec(err);
        if (m) resolve(m[1]);
      });
      server.on('exit', (c) => reject(new Error(`server exited ${c}: ${err}`)));
    });
    // The first start saved the admin token as the CLI profile under XDG_CONFIG_HOME.
    const { token } = JSON.parse(fs.readFileSync(path.join(configHome, 'jobs', 'config.json'), 'utf8'));
    await new Promise((r) => setTimeout(r, 1000));
    resetPeak(server.pid);
    const before = memOf(server.pid).rss;
    const read0 = readBytesOf(server.pid);
    const started = Date.now();
    const submit = spawnNode([BIN, 'submit', csvPath, '--type', 'csv-import', '--wait', '--json'], {
      ...env,
      JOBS_API_URL: url,
    });
    let out = '';
    submit.stdout.on('data', (d) => (out += d));
    submit.stderr.on('data', () => {});
    const exited = new Promise((r) => submit.on('exit', r));
    // The upload phase ends when the job exists (POST /api/jobs after the upload completed).
    let upload;
    let polling = true;
    const poll = (async () => {
      while (polling) {
        const res = await fetch(`${url}/api/jobs?limit=1`, { headers: { authorization: `Bearer ${token}` } });
        const body = await res.json();
        if (res.ok && body.items.length > 0) {
          const mem = memOf(server.pid);
          const read = readBytesOf(server.pid);
          resetPeak(server.pid);
          upload = {
            seconds: (Date.now() - started) / 1000,
            peak: mem.hwm,
            rss: mem.rss,
            read: read - read0,
          };
          return read;
        }
        await new Promise((r) => setTimeout(r, 100));
      }
    })();
    const code = await exited;
    polling = false;
    const readAtJob = await poll;
    const seconds = (Date.now() - started) / 1000;
    const { hwm } = memOf(server.pid);
    const importRead = readBytesOf(server.pid) - (readAtJob ?? read0);
    const job = JSON.parse(out);
    if (code !== 0 || job.status !== 'COMPLETED')
      throw new Error(`job ended ${job.status ?? JSON.stringify(job)}: ${job.error}`);
    if (!upload) throw new Error('the job never showed up in GET /api/jobs while it ran');
    return {
      name,
      seconds,
      before,
      uploadPeak: upload.peak,
      uploadRead: upload.read,
      importPeak: hwm,
      importRead,
      note: `upload ${upload.seconds.toFixed(1)} s (incl. client hashing), RSS at job creation ${(upload.rss / MB).toFixed(0)} MiB, ${job.result.rows.toLocaleString('en-US')} rows`,
    };
  } finally {
    server.kill('SIGTERM');
    if (server.exitCode === null && server.signalCode === null)
      await new Promise((r) => server.once('exit', r));
  }
}

/** A jobs run against a fresh emulator (so runs do not share its memory). */
async function s3Run(name, extraEnv) {
  const emu = await startEmulator();
  try {
    const row = await jobsRun(name, { ...extraEnv, ...emu.env });
    row.note += `; fauxqs peak RSS ${(emu.peak() / MB).toFixed(0)} MiB (own process, not counted)`;
    return row;
  } finally {
    await emu.stop();
  }
}

const DIR = 'direct upload via API-signed part URLs (directory store)';
const S3 = 'direct upload via presigned S3 URLs (fauxqs)';
const rows = [];
let size = 0;
try {
  await writeCsv();
  size = fs.statSync(csvPath).size;
  console.log(`input: ${(size / MB).toFixed(0)} MiB CSV at ${csvPath}\n`);
  rows.push(await baseline());
  rows.push(await jobsRun(`jobs server, embedded (PGlite): ${DIR}`, {}));
  if (values.s3) rows.push(await s3Run(`jobs server, embedded (PGlite): ${S3}`, {}));
  if (values.postgres) {
    const pg = await import('pg');
    const c = new pg.default.Client({ connectionString: values.postgres });
    await c.connect();
    const db = `jobs_bench_${Date.now()}`;
    await c.query(`CREATE DATABASE ${db}`);
    const u = new URL(values.postgres);
    u.pathname = `/${db}`;
    try {
      rows.push(
        await jobsRun(`jobs server, DATABASE_URL (PostgreSQL): ${DIR}`, { DATABASE_URL: u.toString() }),
      );
      if (values.s3) {
        // A fresh database: the first run's tables and rows are gone.
        await c.query(`DROP DATABASE ${db} WITH (FORCE)`);
        await c.query(`CREATE DATABASE ${db}`);
        rows.push(
          await s3Run(`jobs server, DATABASE_URL (PostgreSQL): ${S3}`, { DATABASE_URL: u.toString() }),
        );
      }
    } finally {
      await c.query(`DROP DATABASE IF EXISTS ${db} WITH (FORCE)`);
      await c.end();
    }
  }
} finally {
  killChildren();
  if (!values.keep) fs.rmSync(work, { recursive: true, force: true });
}

const mib = (b) => `${(b / MB).toFixed(0)} MiB`;
const base = rows[0];
console.log(
  '| run | end to end | server RSS before | peak RSS, upload | growth, upload | peak RSS, import | growth, import | read by server, upload | read by server, import | notes |',
);
console.log('|---|---|---|---|---|---|---|---|---|---|');
for (const r of rows) {
  const imp = r.importPeak === undefined;
  console.log(
    `| ${r.name} | ${r.seconds.toFixed(1)} s | ${mib(r.before)} | ${mib(r.uploadPeak)} | ${mib(r.uploadPeak - r.before)} | ${imp ? '–' : mib(r.importPeak)} | ${imp ? '–' : mib(r.importPeak - r.before)} | ${mib(r.uploadRead)} | ${imp ? '–' : mib(r.importRead)} | ${r.note} |`,
  );
}
console.log(
  `\npeak RSS vs baseline: ${rows
    .slice(1)
    .map((r) => `${r.name}: ${(Math.max(r.uploadPeak, r.importPeak) / base.uploadPeak).toFixed(2)}×`)
    .join('; ')}`,
);
