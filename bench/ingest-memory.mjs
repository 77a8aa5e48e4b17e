#!/usr/bin/env node
// Peak memory of the server while a large CSV is uploaded and imported.
//
//   npm run bench:ingest-memory [-- --size-mb 1024] [-- --postgres postgresql://…]
//
// 1. Baseline: a minimal Node HTTP server that pipes the request body to a file; the file is
//    POSTed to it with the same streaming client code path (fetch with a stream body).
// 2. jobs: a fresh `jobs server` (embedded PGlite; and, with --postgres, one on PostgreSQL);
//    `jobs submit FILE --type csv-import --wait` through the real CLI.
// For each it prints throughput and the server's peak RSS (VmHWM from /proc, the kernel's own
// high-water mark, reset once the server is up, so no sample is missed), and its RSS before.
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
  return spawn(process.execPath, args, {
    cwd: ROOT,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
}

async function baseline() {
  // The server runs in its own process so its RSS is measured the same way.
  const code = `
    const http = require('node:http'); const fs = require('node:fs'); const { pipeline } = require('node:stream/promises');
    const s = http.createServer(async (req, res) => { await pipeline(req, fs.createWriteStream(process.argv[1])); res.end('ok'); });
    s.listen(0, '127.0.0.1', () => console.log(s.address().port));`;
  const child = spawn(process.execPath, ['-e', code, path.join(work, 'baseline.out')], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const port = await new Promise((r) => child.stdout.once('data', (d) => r(Number(String(d).trim()))));
  resetPeak(child.pid);
  const before = memOf(child.pid).rss;
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
  child.kill();
  return { name: 'baseline: node http → file', seconds, before, hwm, note: 'upload only' };
}

async function jobsRun(name, extraEnv) {
  const dataDir = path.join(work, `data-${Math.random().toString(36).slice(2)}`);
  const configHome = path.join(work, `cfg-${Math.random().toString(36).slice(2)}`);
  const env = { JOBS_DATA_DIR: dataDir, XDG_CONFIG_HOME: configHome, JOBS_LOG_LEVEL: 'warn', ...extraEnv };
  const server = spawnNode([BIN, 'server', '--port', '0'], env);
  let err = '';
  const url = await new Promise((resolve, reject) => {
    server.stderr.on('data', (d) => {
      err += d;
      const m = /listening on (\S+)/.exec(err);
      if (m) resolve(m[1]);
    });
    server.on('exit', (c) => reject(new Error(`server exited ${c}: ${err}`)));
  });
  await new Promise((r) => setTimeout(r, 1000));
  resetPeak(server.pid);
  const before = memOf(server.pid).rss;
  const started = Date.now();
  let uploadedAt = 0;
  const submit = spawnNode([BIN, 'submit', csvPath, '--type', 'csv-import', '--wait', '--json'], {
    ...env,
    JOBS_API_URL: url,
  });
  let out = '';
  submit.stdout.on('data', (d) => (out += d));
  submit.stderr.on('data', () => {});
  // The job id printed means the upload finished; watch the server's state as it goes.
  const poll = setInterval(() => {
    if (!uploadedAt && fs.existsSync(path.join(dataDir, 'blobs', 'inputs'))) {
      const files = fs.readdirSync(path.join(dataDir, 'blobs', 'inputs'), { recursive: true });
      if (files.some((f) => fs.statSync(path.join(dataDir, 'blobs', 'inputs', String(f))).isFile()))
        uploadedAt = Date.now();
    }
  }, 50);
  const code = await new Promise((r) => submit.on('exit', r));
  clearInterval(poll);
  const seconds = (Date.now() - started) / 1000;
  const { hwm } = memOf(server.pid);
  server.kill('SIGTERM');
  await new Promise((r) => server.on('exit', r));
  const job = JSON.parse(out);
  if (code !== 0 || job.status !== 'COMPLETED') throw new Error(`job ended ${job.status}: ${job.error}`);
  const upload = uploadedAt ? (uploadedAt - started) / 1000 : NaN;
  return { name, seconds, before, hwm, note: `upload ${upload.toFixed(1)} s, ${job.result.rows} rows` };
}

await writeCsv();
const size = fs.statSync(csvPath).size;
console.log(`input: ${(size / MB).toFixed(0)} MiB CSV at ${csvPath}\n`);
const rows = [await baseline(), await jobsRun('jobs server, embedded (PGlite)', {})];
if (values.postgres) {
  const pg = await import('pg');
  const c = new pg.default.Client({ connectionString: values.postgres });
  await c.connect();
  const db = `jobs_bench_${Date.now()}`;
  await c.query(`CREATE DATABASE ${db}`);
  const u = new URL(values.postgres);
  u.pathname = `/${db}`;
  try {
    rows.push(await jobsRun('jobs server, DATABASE_URL (PostgreSQL)', { DATABASE_URL: u.toString() }));
  } finally {
    await c.query(`DROP DATABASE ${db} WITH (FORCE)`);
    await c.end();
  }
}
const base = rows[0];
console.log('| run | end to end | MiB/s | server RSS before | server peak RSS | growth | notes |');
console.log('|---|---|---|---|---|---|---|');
for (const r of rows) {
  console.log(
    `| ${r.name} | ${r.seconds.toFixed(1)} s | ${(size / MB / r.seconds).toFixed(0)} | ${(r.before / MB).toFixed(0)} MiB | ${(r.hwm / MB).toFixed(0)} MiB | ${((r.hwm - r.before) / MB).toFixed(0)} MiB | ${r.note} |`,
  );
}
console.log(
  `\npeak RSS vs baseline: ${rows
    .slice(1)
    .map((r) => `${r.name}: ${(r.hwm / base.hwm).toFixed(2)}×`)
    .join('; ')}`,
);
if (!values.keep) fs.rmSync(work, { recursive: true, force: true });
