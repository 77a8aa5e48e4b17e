#!/usr/bin/env node
// csv-import rows/s against bare csv-parse over the same bytes with the same options.
//
//   npm run bench:csv [-- --sizes 10,100,1024] [-- --postgres postgresql://…] [-- --typed] [-- --repeat 3]
//
// For each size (MiB) a CSV is generated once, then each mode runs in a fresh `node` process (so
// its peak RSS is its own; the kernel's VmHWM, reset after set-up):
// - baseline: fs.createReadStream → csv-parse (bom, delimiter ',', relax_column_count,
//   skip_empty_lines, max_record_size: the handler's options) → count records.
// - handler: the csv-import handler's run() alone, on a file stream (the params' defaults, or
//   with --typed a type for every column).
// - processor: the whole path a worker takes (the platform composed as `jobs worker` composes
//   it, compose/compose.ts; processor/processor.ts → run-job.ts): the input stored in the
//   directory blob store and the job created through JobsService (PGlite in a temp directory;
//   with --postgres also a scratch PostgreSQL database), its message received from the queue, then
//   one SQS-shaped event for it: claim, input stream (with its SHA-256 check), handler, log and
//   progress writes, finish.
import fs from 'node:fs';
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import { pipeline } from 'node:stream/promises';
import { parseArgs } from 'node:util';
import {
  cleanup,
  fmt,
  memOf,
  median,
  MiB,
  pgClient,
  printContext,
  printTable,
  resetPeak,
  ROOT,
  runToEnd,
  scratchDatabase,
  workDir,
  writeCsv,
} from './lib.mjs';

const { values } = parseArgs({
  options: {
    sizes: { type: 'string', default: '10,100,1024' },
    postgres: { type: 'string' },
    typed: { type: 'boolean' },
    keep: { type: 'boolean' },
    repeat: { type: 'string', default: '3' },
    // Internal: run one measurement in this (child) process.
    child: { type: 'string' },
    file: { type: 'string' },
    'data-dir': { type: 'string' },
    db: { type: 'string' },
  },
});

const TYPES = {
  order_id: 'integer',
  customer_email: 'string',
  quantity: 'integer',
  unit_price: 'number',
  ordered_at: 'date',
  paid: 'boolean',
  note: 'string',
};
const params = values.typed ? { types: TYPES, required: ['order_id'] } : {};

if (values.child) {
  const result = await measure(values.child, values.file);
  console.log(JSON.stringify(result));
  process.exit(0);
}

/** One measurement, in this process: { rows, ms, peak, rssBefore }. */
async function measure(mode, file) {
  const dist = (p) => import(path.join(ROOT, 'dist', p));
  if (mode === 'baseline') {
    const { parse } = await import('csv-parse');
    const { MAX_RECORD_CHARS } = await dist('processor/handlers/csv-import.js');
    const parser = parse({
      bom: true,
      delimiter: ',',
      relax_column_count: true,
      skip_empty_lines: true,
      max_record_size: MAX_RECORD_CHARS,
    });
    const { rssBefore, t0 } = start();
    let records = 0;
    await pipeline(fs.createReadStream(file), parser, async (source) => {
      for await (const _ of source) records++;
    });
    return done(records - 1, t0, rssBefore);
  }
  if (mode === 'handler') {
    const { csvImport } = await dist('processor/handlers/csv-import.js');
    let logged = 0;
    const log = { info: () => logged++, warn: () => logged++, error: () => logged++ };
    const size = fs.statSync(file).size;
    const { rssBefore, t0 } = start();
    const result = await csvImport.run({
      jobId: randomUUID(),
      params: csvImport.params.parse(params),
      input: fs.createReadStream(file),
      inputInfo: { name: path.basename(file), size, sha256: '' },
      log,
      progress: () => {},
      signal: new AbortController().signal,
      attempt: 1,
    });
    if (result.invalid !== 0) throw new Error(`${result.invalid} invalid rows`);
    return done(result.rows, t0, rssBefore);
  }
  if (mode === 'processor') {
    const { loadConfig } = await dist('core/config.js');
    const { compose } = await dist('compose/compose.js');
    const { AuthService } = await dist('core/auth/auth-service.js');
    const { JobsService } = await dist('core/jobs/jobs-service.js');
    const { inputKey } = await dist('core/blobs/blob-store.js');
    const { toRecord } = await dist('processor/queue-worker.js');
    const config = loadConfig({
      JOBS_DATA_DIR: values['data-dir'],
      JOBS_LOG_LEVEL: 'warn',
      ...(values.db ? { DATABASE_URL: values.db } : {}),
    });
    // The platform as `jobs server` and `jobs worker` compose it: its processor is the worker's.
    const platform = await compose(config);
    const { db, blobs, queue, store, types } = platform.api;
    const auth = new AuthService(db.prisma);
    const { token } = await auth.createToken({ userName: 'bench', name: 'bench' });
    const owner = await auth.authenticate(token);
    const id = randomUUID();
    const key = inputKey(owner.userId, id);
    const stored = await blobs.put(key, fs.createReadStream(file), { maxBytes: 1e12 });
    // What the API does on POST /api/jobs (server/app.ts builds the same service).
    const jobs = new JobsService(db.prisma, store, types);
    await jobs.create(owner, {
      id,
      type: 'csv-import',
      params,
      input: { key, name: path.basename(file), ...stored },
    });
    // The job's message, received as the worker receives it; then one SQS-shaped event.
    const messages = await queue.receive({ max: 1, waitMs: 5000 });
    if (messages.length !== 1) throw new Error(`received ${messages.length} messages, not 1`);
    const event = { Records: messages.map(toRecord) };
    const { rssBefore, t0 } = start();
    const res = await platform.processor(event);
    const job = await jobs.get(owner, id);
    const out = done(job.result?.rows ?? 0, t0, rssBefore);
    if (res.batchItemFailures.length > 0 || job.status !== 'COMPLETED')
      throw new Error(`the job ended ${job.status}: ${job.error}`);
    await platform.close();
    return out;
  }
  throw new Error(`unknown mode ${mode}`);
}

function start() {
  globalThis.gc?.();
  resetPeak(process.pid);
  return { rssBefore: memOf(process.pid).rss, t0: performance.now() };
}

function done(rows, t0, rssBefore) {
  return { rows, ms: performance.now() - t0, peak: memOf(process.pid).hwm, rssBefore };
}

// ---------------------------------------------------------------------------------------------

const work = workDir('jobs-bench-csv-', values.keep);
const sizes = values.sizes.split(',').map(Number);
const results = [];
try {
  printContext(`csv: csv-import vs bare csv-parse${values.typed ? ' (typed: every column checked)' : ''}`);
  const pg = values.postgres ? await scratchDatabase(values.postgres) : undefined;
  for (const mb of sizes) {
    const file = path.join(work, `input-${mb}.csv`);
    const bytes = await writeCsv(file, mb * MiB);
    const modes = [
      ['baseline', 'bare csv-parse (baseline)', []],
      ['handler', 'csv-import handler', []],
      ['processor', 'processor → run-job → csv-import, PGlite', ['--data-dir', path.join(work, `pgl-${mb}`)]],
    ];
    if (pg) {
      modes.push([
        'processor',
        'processor → run-job → csv-import, PostgreSQL',
        ['--data-dir', path.join(work, `pgd-${mb}`), '--db', pg.url],
      ]);
    }
    // Modes interleaved, each repeated (the median kept), so a burst of load elsewhere on the
    // machine hits every mode alike; the largest size runs once.
    const repeat = mb >= 1024 ? 1 : Number(values.repeat);
    const runs = modes.map(() => []);
    for (let rep = 0; rep < repeat; rep++) {
      for (const [i, [mode, name, extra]] of modes.entries()) {
        const args = [path.join(ROOT, 'bench', 'csv.mjs'), '--child', mode, '--file', file, ...extra];
        if (values.typed) args.push('--typed');
        const run = await runToEnd(process.execPath, ['--expose-gc', ...args]);
        if (run.code !== 0) throw new Error(`${name} failed: ${run.stderr}`);
        const r = JSON.parse(run.stdout.trim().split('\n').at(-1));
        runs[i].push({ ...r, rate: r.rows / (r.ms / 1000) });
        console.error(
          `${mb} MiB ${name}: ${Math.round(r.rows / (r.ms / 1000))} rows/s, peak ${fmt.mib(r.peak)}`,
        );
        if (extra.includes('--db')) {
          // Each run on an empty database.
          const c = await pgClient(pg.url);
          await c.query('TRUNCATE jobs, job_logs, queue_messages CASCADE');
          await c.end();
        }
      }
    }
    // The median run's time (nearest rank: the faster of two), and the rates from it.
    const medianMs = (rs) => median(rs.map((r) => r.ms));
    const base = runs[0][0].rows / medianMs(runs[0]);
    for (const [i, [, name]] of modes.entries()) {
      const rs = runs[i];
      const rate = rs[0].rows / medianMs(rs);
      results.push({
        mb,
        bytes,
        name,
        repeat,
        rows: rs[0].rows,
        ms: medianMs(rs),
        rssBefore: median(rs.map((r) => r.rssBefore)),
        peak: Math.max(...rs.map((r) => r.peak)),
        rate: rate * 1000,
        ratio: rate / base,
      });
    }
    fs.rmSync(file, { force: true });
  }
} finally {
  await cleanup();
}

console.log();
printTable(
  [
    'size',
    'run',
    'runs',
    'rows',
    'time (median)',
    'rows/s (median)',
    'MB/s',
    'vs csv-parse (target ≥ 0.8×)',
    'RSS before',
    'peak RSS (max)',
  ],
  results.map((r) => [
    `${r.mb} MiB`,
    r.name,
    r.repeat,
    fmt.int(r.rows),
    `${(r.ms / 1000).toFixed(2)} s`,
    fmt.int(r.rate),
    (r.bytes / 1e6 / (r.ms / 1000)).toFixed(1),
    fmt.ratio(r.ratio),
    fmt.mib(r.rssBefore),
    fmt.mib(r.peak),
  ]),
);
