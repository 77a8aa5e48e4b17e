#!/usr/bin/env node
// Ingest: `jobs submit` of a large CSV to a jobs server, against curl sending the same file to a
// minimal Node HTTP server that writes it to disk; then the server's memory while it imports it.
//
//   npm run bench:ingest [-- --size-mb 1024] [-- --postgres postgresql://…] [-- --s3] [-- --single-post] [-- --runs 3]
//
// Each of the --runs rounds (default 3) measures curl, then every jobs server, in turn; a jobs
// figure is its ratio to the curl of the same round, and the table shows the median ratio (each
// round's in the notes), the median times and the highest peaks.
// - baseline: curl POSTing the file (`-X POST --upload-file FILE`, streamed: `--data-binary @FILE`
//   reads the whole file into memory first and fails at 1 GiB) to
//   `http.createServer((req, res) => pipeline(req, file))` in its own process; curl's whole run.
// - jobs: a fresh `jobs server --port 0` (embedded PGlite; with --postgres also one on a scratch
//   PostgreSQL database), fed by the real CLI: `jobs submit FILE --type csv-import --json`. The
//   upload phase is that command's whole run (above JOBS_DIRECT_UPLOAD_THRESHOLD, 64 MiB, it sends
//   parts: to the directory store one at a time, in order, hashing the file as it is read; then it
//   completes with the SHA-256 and creates the job); MB/s = file size / that time. The import
//   phase runs from then to the job's end (the server's embedded worker).
// - --s3: the same with the blob store on an S3 emulator (fauxqs, own process): parts go to
//   presigned S3 URLs and skip the API host. --single-post: one streamed multipart POST instead of
//   a direct upload (JOBS_DIRECT_UPLOAD_THRESHOLD above the file size).
// Peak RSS is the kernel's high-water mark (VmHWM) of the server process, reset at each phase
// boundary; "read by server" is rchar of /proc/PID/io (sockets and files alike).
import fs from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import {
  api,
  BIN,
  cleanup,
  fmt,
  median,
  memOf,
  MiB,
  printContext,
  printTable,
  readBytesOf,
  resetPeak,
  runToEnd,
  scratchDatabase,
  sleep,
  startEmulator,
  startJobsServer,
  startNodeChild,
  workDir,
  writeCsv,
} from './lib.mjs';

const { values } = parseArgs({
  options: {
    'size-mb': { type: 'string', default: '1024' },
    postgres: { type: 'string' },
    s3: { type: 'boolean' },
    'single-post': { type: 'boolean' },
    keep: { type: 'boolean' },
    runs: { type: 'string', default: '3' },
  },
});
const work = workDir('jobs-bench-ingest-', values.keep);
const csvPath = path.join(work, 'input.csv');
const MB = 1e6;

async function baseline(size) {
  const code = `
    const http = require('node:http'); const fs = require('node:fs'); const { pipeline } = require('node:stream/promises');
    const s = http.createServer(async (req, res) => { await pipeline(req, fs.createWriteStream(process.argv[1])); res.end('ok'); });
    s.listen(0, '127.0.0.1', () => console.log(s.address().port));`;
  const server = await startNodeChild(['-e', code, path.join(work, 'baseline.out')], { ready: /(\d+)\n/ });
  try {
    await sleep(500);
    resetPeak(server.pid);
    const before = memOf(server.pid).rss;
    const read0 = readBytesOf(server.pid);
    const run = await runToEnd('curl', [
      '-sS',
      '--fail',
      '-o',
      '/dev/null',
      '-H',
      'content-type: application/octet-stream',
      // Streamed from the file: `--data-binary @FILE` would read all of it into curl's memory
      // first (and at 1 GiB curl refuses: "out of memory"). -X POST keeps the method.
      '-X',
      'POST',
      '--upload-file',
      csvPath,
      `http://127.0.0.1:${server.match[1]}/`,
    ]);
    if (run.code !== 0) throw new Error(`curl failed: ${run.stderr}`);
    const written = fs.statSync(path.join(work, 'baseline.out')).size;
    if (written !== size) throw new Error(`the baseline server wrote ${written} bytes, not ${size}`);
    return {
      name: 'baseline: curl -X POST --upload-file → node http → file',
      uploadSeconds: run.ms / 1000,
      before,
      uploadPeak: memOf(server.pid).hwm,
      uploadRead: readBytesOf(server.pid) - read0,
    };
  } finally {
    await server.stop();
  }
}

async function jobsRun(name, extraEnv) {
  const server = await startJobsServer({ env: extraEnv, dir: work });
  try {
    await sleep(1000);
    resetPeak(server.pid);
    const before = memOf(server.pid).rss;
    const read0 = readBytesOf(server.pid);
    const submit = await runToEnd(
      process.execPath,
      [BIN, 'submit', csvPath, '--type', 'csv-import', '--json'],
      {
        env: server.cliEnv,
      },
    );
    if (submit.code !== 0) throw new Error(`jobs submit failed: ${submit.stdout}${submit.stderr}`);
    const uploadMem = memOf(server.pid);
    const uploadRead = readBytesOf(server.pid) - read0;
    resetPeak(server.pid);
    const importStart = Date.now();
    const call = api(server.url, server.token);
    let job = JSON.parse(submit.stdout);
    while (!['COMPLETED', 'FAILED', 'CANCELLED'].includes(job.status)) {
      await sleep(250);
      job = await call('GET', `/api/jobs/${job.id}`);
    }
    if (job.status !== 'COMPLETED') throw new Error(`the import ended ${job.status}: ${job.error}`);
    const importSeconds = (Date.now() - importStart) / 1000;
    return {
      name,
      uploadSeconds: submit.ms / 1000,
      before,
      uploadPeak: uploadMem.hwm,
      uploadRead,
      importSeconds,
      importPeak: memOf(server.pid).hwm,
      importRead: readBytesOf(server.pid) - read0 - uploadRead,
      rows: job.result.rows,
    };
  } finally {
    await server.stop();
    // Each round starts from the same state: a stopped server's 1 GiB blob left in place stays
    // in the page cache, dirty, and its writeback then ran during the next runs' uploads (curl's
    // and jobs' alike: BENCHMARKS.md, ingest). --keep keeps them.
    if (!values.keep) fs.rmSync(server.env.JOBS_DATA_DIR, { recursive: true, force: true });
  }
}

async function s3Run(name, extraEnv) {
  const emu = await startEmulator();
  try {
    const row = await jobsRun(name, { ...extraEnv, ...emu.env });
    row.extra = `fauxqs peak RSS ${fmt.mib(emu.peak())} (own process, not counted)`;
    return row;
  } finally {
    await emu.stop();
  }
}

const runs = Number(values.runs);
if (!Number.isInteger(runs) || runs < 1) throw new Error('--runs must be a whole number ≥ 1');

/** Samples by run name, in the order first seen: the baseline first. */
const samples = new Map();
const add = (row) => {
  if (!samples.has(row.name)) samples.set(row.name, []);
  samples.get(row.name).push(row);
};
let size = 0;
try {
  size = await writeCsv(csvPath, Number(values['size-mb']) * MiB);
  const how = values['single-post'] ? 'one streamed multipart POST' : 'direct upload, API-signed part URLs';
  const env = values['single-post'] ? { JOBS_DIRECT_UPLOAD_THRESHOLD: String(size + 1) } : {};
  printContext(`ingest: ${(size / MiB).toFixed(0)} MiB CSV (${how}), ${runs} run${runs > 1 ? 's' : ''}`);
  for (let run = 1; run <= runs; run++) {
    // Each run has its own baseline: a figure is a ratio to curl at that same moment.
    const base = await baseline(size);
    add(base);
    const measured = async (row) => {
      row.ratio = base.uploadSeconds / row.uploadSeconds;
      row.run = run;
      add(row);
      console.error(
        `run ${run}: ${row.name}: ${row.uploadSeconds.toFixed(2)} s (curl ${base.uploadSeconds.toFixed(2)} s): ${row.ratio.toFixed(2)}×`,
      );
    };
    await measured(await jobsRun(`jobs submit → jobs server, embedded (PGlite): ${how}`, env));
    if (values.s3)
      await measured(
        await s3Run(
          'jobs submit → jobs server, embedded (PGlite): direct upload, presigned S3 URLs (fauxqs)',
          {},
        ),
      );
    if (values.postgres) {
      let db = await scratchDatabase(values.postgres);
      await measured(
        await jobsRun(`jobs submit → jobs server, PostgreSQL: ${how}`, { ...env, DATABASE_URL: db.url }),
      );
      await db.drop();
      if (values.s3) {
        db = await scratchDatabase(values.postgres);
        await measured(
          await s3Run('jobs submit → jobs server, PostgreSQL: direct upload, presigned S3 URLs (fauxqs)', {
            DATABASE_URL: db.url,
          }),
        );
        await db.drop();
      }
    }
  }
} finally {
  await cleanup();
}

const maxOf = (xs) =>
  xs.some((x) => x !== undefined) ? Math.max(...xs.filter((x) => x !== undefined)) : undefined;
const medianOf = (xs) =>
  xs.some((x) => x !== undefined) ? median(xs.filter((x) => x !== undefined)) : undefined;
const rows = [...samples.entries()].map(([name, rs]) => {
  const isBase = rs[0].ratio === undefined;
  const importSeconds = medianOf(rs.map((r) => r.importSeconds));
  const rows = rs[0].rows;
  return {
    name,
    isBase,
    uploadSeconds: median(rs.map((r) => r.uploadSeconds)),
    ratio: isBase ? 1 : median(rs.map((r) => r.ratio)),
    ratios: rs.map((r) => r.ratio),
    before: median(rs.map((r) => r.before)),
    uploadPeak: maxOf(rs.map((r) => r.uploadPeak)),
    importPeak: maxOf(rs.map((r) => r.importPeak)),
    uploadRead: median(rs.map((r) => r.uploadRead)),
    importRead: medianOf(rs.map((r) => r.importRead)),
    note: isBase
      ? `upload only; ${rs.map((r) => `${r.uploadSeconds.toFixed(1)}`).join(' / ')} s`
      : [
          runs > 1 ? `per run ${rs.map((r) => fmt.ratio(r.ratio)).join(' / ')}` : '',
          // The peak column is the highest of the runs; the spread shows how close to it each came.
          runs > 1 && rs[0].importPeak !== undefined
            ? `import peaks ${rs.map((r) => (r.importPeak / MiB).toFixed(0)).join(' / ')} MiB`
            : '',
          rows === undefined
            ? ''
            : `${rows.toLocaleString('en-US')} rows imported in ${importSeconds.toFixed(1)} s (${Math.round(rows / importSeconds).toLocaleString('en-US')} rows/s)`,
          rs[0].extra ?? '',
        ]
          .filter(Boolean)
          .join('; '),
  };
});
printTable(
  [
    'run',
    runs > 1 ? 'upload (median)' : 'upload',
    'MB/s',
    runs > 1 ? 'vs same-run curl, median (target ≥ 0.7×)' : 'vs baseline (target ≥ 0.7×)',
    'server RSS idle',
    'peak RSS, upload',
    'peak RSS, import',
    'peak < 200 MB?',
    'read by server, upload',
    'read by server, import',
    'notes',
  ],
  rows.map((r) => {
    const rate = size / MB / r.uploadSeconds;
    const peak = Math.max(r.uploadPeak, r.importPeak ?? 0);
    return [
      r.name,
      `${r.uploadSeconds.toFixed(1)} s`,
      rate.toFixed(0),
      r.isBase ? '1.00×' : fmt.ratio(r.ratio),
      fmt.mib(r.before),
      fmt.mib(r.uploadPeak),
      r.importPeak === undefined ? '–' : fmt.mib(r.importPeak),
      r.isBase
        ? '–'
        : peak < 200 * MB
          ? `yes (${(peak / MB).toFixed(0)} MB)`
          : `no (${(peak / MB).toFixed(0)} MB)`,
      fmt.mib(r.uploadRead),
      r.importRead === undefined ? '–' : fmt.mib(r.importRead),
      r.note,
    ];
  }),
);
