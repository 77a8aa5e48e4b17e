// Shared plumbing of the benches: one way to spawn a jobs server or worker, sample a process's
// memory, make a scratch PostgreSQL database, compute percentiles and print a table. Each bench
// measures its baseline in the same run, so the figures are ratios that hold on a noisy machine.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
export const BIN = path.join(ROOT, 'bin', 'run.js');
export const MiB = 1024 * 1024;
export const DEFAULT_PG = 'postgresql://root@127.0.0.1:5432/test';

// ---------------------------------------------------------------------------------------------
// Child processes: every one is tracked and killed on the way out, whatever happens.

const children = new Set();
const cleanups = [];

export function track(child) {
  children.add(child);
  child.on('exit', () => children.delete(child));
  return child;
}

/** Registers a clean-up (drop a database, remove a directory) run once on exit, in reverse order. */
export function onCleanup(fn) {
  cleanups.push(fn);
}

let cleaning;
export function cleanup() {
  cleaning ??= (async () => {
    for (const c of children) c.kill('SIGKILL');
    for (const fn of cleanups.reverse()) await Promise.resolve(fn()).catch(() => {});
  })();
  return cleaning;
}
process.on('exit', () => {
  for (const c of children) c.kill('SIGKILL');
});
for (const sig of ['SIGINT', 'SIGTERM']) {
  process.on(sig, () => void cleanup().finally(() => process.exit(130)));
}

/** A scratch directory under the OS temp dir, removed on exit (unless `keep`). */
export function workDir(prefix = 'jobs-bench-', keep = false) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  if (!keep) onCleanup(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** `node args…` in the project root, stdout/stderr piped. */
export function spawnNode(args, env = {}, opts = {}) {
  return track(
    spawn(process.execPath, args, {
      cwd: ROOT,
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
      ...opts,
    }),
  );
}

/** Runs a command to its end; resolves {code, stdout, stderr, ms}. */
export function runToEnd(cmd, args, { env = {}, cwd = ROOT } = {}) {
  const started = performance.now();
  const child = track(
    spawn(cmd, args, { cwd, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] }),
  );
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d) => (stdout += d));
  child.stderr.on('data', (d) => (stderr += d));
  return new Promise((resolve, reject) => {
    child.on('error', reject);
    child.on('exit', (code) => resolve({ code, stdout, stderr, ms: performance.now() - started }));
  });
}

/** Resolves with the first match of `re` in the child's stderr (rejects if it exits first). */
function waitForStderr(child, re, what) {
  let err = '';
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${what} did not start in 120 s:\n${err}`)), 120_000);
    child.stderr.on('data', (d) => {
      err += d;
      const m = re.exec(err);
      if (m) {
        clearTimeout(timer);
        resolve(m);
      }
    });
    child.on('exit', (c) => {
      clearTimeout(timer);
      reject(new Error(`${what} exited (${c}):\n${err}`));
    });
  });
}

async function stopChild(child, timeoutMs = 20_000) {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((r) => child.once('exit', r));
  child.kill('SIGTERM');
  const t = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  await exited;
  clearTimeout(t);
}

/**
 * A fresh `jobs server --port 0` (embedded unless env has DATABASE_URL) with its own data
 * directory and CLI profile. Resolves once it listens, with its URL, the admin token (the
 * profile its first start saved) and `cliEnv` for running the CLI against it.
 */
export async function startJobsServer({
  env = {},
  args = [],
  dir = workDir(),
  bin = BIN,
  nodeArgs = [],
} = {}) {
  const dataDir = path.join(dir, `data-${Math.random().toString(36).slice(2, 8)}`);
  const configHome = path.join(dir, `cfg-${Math.random().toString(36).slice(2, 8)}`);
  const fullEnv = {
    JOBS_DATA_DIR: dataDir,
    XDG_CONFIG_HOME: configHome,
    JOBS_LOG_LEVEL: 'warn',
    // Benchmarks submit thousands of jobs as fast as they can: no request limit, no job cap.
    JOBS_RATE_LIMIT_PER_MINUTE: '0',
    JOBS_MAX_ACTIVE_JOBS_PER_USER: '0',
    ...env,
  };
  return startJobsServerIn(fullEnv, args, bin, nodeArgs);
}

/**
 * A jobs server on an existing data directory/profile (`env` as returned by startJobsServer).
 * `bin`: another checkout's `bin/run.js` (a baseline build, bench:throughput --baseline);
 * `nodeArgs`: node's own flags (`--cpu-prof`).
 */
export async function startJobsServerIn(env, args = [], bin = BIN, nodeArgs = []) {
  const child = spawnNode([...nodeArgs, bin, 'server', '--port', '0', ...args], env);
  const [, url] = await waitForStderr(child, /listening on (\S+)/, 'jobs server');
  const { token } = JSON.parse(
    fs.readFileSync(path.join(env.XDG_CONFIG_HOME, 'jobs', 'config.json'), 'utf8'),
  );
  return {
    url,
    token,
    bin,
    pid: child.pid,
    child,
    env,
    cliEnv: { ...env, JOBS_API_URL: url, JOBS_TOKEN: token },
    stop: () => stopChild(child),
  };
}

/** `jobs worker` processes on the same database as `server`, resolved once each takes work. */
export async function startJobsWorkers(server, count, concurrency, nodeArgs = []) {
  const workers = await Promise.all(
    Array.from({ length: count }, async () => {
      const child = spawnNode(
        [...nodeArgs, server.bin ?? BIN, 'worker', '--concurrency', String(concurrency)],
        server.env,
      );
      await waitForStderr(child, /jobs worker running/, 'jobs worker');
      return child;
    }),
  );
  return { pids: workers.map((w) => w.pid), stop: () => Promise.all(workers.map((w) => stopChild(w))) };
}

/** Another long-running node child (a baseline server, a peer's worker): resolves once its stdout says `ready`. */
export async function startNodeChild(args, { env = {}, ready = /\S/, cwd = ROOT } = {}) {
  const child = spawnNode(args, env, { cwd });
  let out = '';
  const match = await new Promise((resolve, reject) => {
    child.stdout.on('data', (d) => {
      out += d;
      const m = ready.exec(out);
      if (m) resolve(m);
    });
    let err = '';
    child.stderr.on('data', (d) => (err += d));
    child.on('exit', (c) => reject(new Error(`${args.join(' ')} exited (${c}):\n${err}`)));
  });
  return { child, pid: child.pid, match, stop: () => stopChild(child) };
}

/** fauxqs (S3 emulator) in its own process on loopback, with one bucket. */
export async function startEmulator() {
  const code = `
    import { buildApp } from 'fauxqs';
    const app = buildApp({ logger: false });
    await app.listen({ port: 0, host: '127.0.0.1' });
    console.log(app.server.address().port);
    process.on('SIGTERM', () => app.close().then(() => process.exit(0)));`;
  const emu = await startNodeChild(['--input-type=module', '-e', code], { ready: /(\d+)\n/ });
  const endpoint = `http://127.0.0.1:${emu.match[1]}`;
  const { S3Client, CreateBucketCommand } = await import('@aws-sdk/client-s3');
  const s3 = new S3Client({
    region: 'us-east-1',
    endpoint,
    forcePathStyle: true,
    credentials: { accessKeyId: 'test', secretAccessKey: 'test' },
  });
  await s3.send(new CreateBucketCommand({ Bucket: 'jobs-bench' }));
  s3.destroy();
  return {
    env: {
      JOBS_S3_BUCKET: 'jobs-bench',
      JOBS_S3_ENDPOINT: endpoint,
      AWS_REGION: 'us-east-1',
      AWS_ACCESS_KEY_ID: 'test',
      AWS_SECRET_ACCESS_KEY: 'test',
    },
    peak: () => memOf(emu.pid).hwm,
    stop: emu.stop,
  };
}

/**
 * The same client on node:http with a keep-alive agent: a submitter that costs its process less
 * CPU per request than fetch (bench:throughput's bench process shares the machine with the
 * system it measures; see BENCHMARKS.md, throughput).
 */
export function lightApi(url, token) {
  const agent = new http.Agent({ keepAlive: true });
  const { hostname, port } = new URL(url);
  return (method, p, body) =>
    new Promise((resolve, reject) => {
      const payload = body === undefined ? undefined : JSON.stringify(body);
      const req = http.request(
        {
          agent,
          hostname,
          port,
          method,
          path: p,
          headers: {
            authorization: `Bearer ${token}`,
            ...(payload === undefined
              ? {}
              : { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) }),
          },
        },
        (res) => {
          let text = '';
          res.setEncoding('utf8');
          res.on('data', (d) => (text += d));
          res.on('end', () => {
            if (res.statusCode >= 400) reject(new Error(`${method} ${p}: ${res.statusCode} ${text}`));
            else resolve(JSON.parse(text));
          });
          res.on('error', reject);
        },
      );
      req.on('error', reject);
      req.end(payload);
    });
}

/** A tiny JSON client of the REST API. */
export function api(url, token) {
  return async (method, p, body) => {
    const res = await fetch(`${url}${p}`, {
      method,
      headers: {
        authorization: `Bearer ${token}`,
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    if (!res.ok) throw new Error(`${method} ${p}: ${res.status} ${text}`);
    return JSON.parse(text);
  };
}

// ---------------------------------------------------------------------------------------------
// Memory and I/O of a process, from /proc (Linux).

/** Current and peak RSS in bytes. The peak is the kernel's own high-water mark (VmHWM). */
/** CPU time (user + system) a process has used so far, in ms (USER_HZ 100: 10 ms ticks). */
export function cpuMsOf(pid) {
  const f = fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return (Number(f[11]) + Number(f[12])) * 10;
}

export function memOf(pid) {
  const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (k) => Number(new RegExp(`${k}:\\s+(\\d+)`).exec(status)[1]) * 1024;
  return { rss: kb('VmRSS'), hwm: kb('VmHWM') };
}

/** Resets the peak-RSS counter (VmHWM) to the current RSS, so what came before is not counted. */
export function resetPeak(pid) {
  fs.writeFileSync(`/proc/${pid}/clear_refs`, '5');
}

/** Bytes the process read through read-like syscalls (files and sockets alike). */
export function readBytesOf(pid) {
  return Number(/rchar:\s+(\d+)/.exec(fs.readFileSync(`/proc/${pid}/io`, 'utf8'))[1]);
}

// ---------------------------------------------------------------------------------------------
// PostgreSQL scratch databases.

/** Creates a database on the server of `baseUrl` and drops it on exit; resolves its URL. */
export async function scratchDatabase(baseUrl = DEFAULT_PG, prefix = 'jobs_bench') {
  const { default: pg } = await import('pg');
  const name = `${prefix}_${process.pid}_${Date.now().toString(36)}`;
  const admin = quiet(new pg.Client({ connectionString: baseUrl }));
  await admin.connect();
  await admin.query(`CREATE DATABASE ${name}`);
  await admin.end();
  const u = new URL(baseUrl);
  u.pathname = `/${name}`;
  const drop = async () => {
    const c = quiet(new pg.Client({ connectionString: baseUrl }));
    await c.connect();
    await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
    await c.end();
  };
  onCleanup(drop);
  return { url: u.toString(), name, drop };
}

/** A pg client (from the project's own dependency), connected. */
export async function pgClient(url) {
  const { default: pg } = await import('pg');
  const c = quiet(new pg.Client({ connectionString: url }));
  await c.connect();
  return c;
}

/**
 * Counts a run's database transactions two ways:
 * - `writes`: transactions given an id, i.e. that wrote (the commits that flush WAL), from the
 *   server's next transaction id: exact at any moment, but every database of the server counts,
 *   so run the bench on an otherwise idle server.
 * - `all`: pg_stat_database.xact_commit of the scratch database: read-only statements too, and the
 *   transaction in which every LISTENing backend reads the notifications of each commit that sent
 *   any (on any channel). A backend adds its transactions to that figure when it goes idle, at
 *   most once a second, and keeps the rest until it runs another statement or exits; a listening
 *   backend runs none, so its deliveries show only when it exits (an idle backend held 200 commits
 *   for over a minute here). Read 1.2 s after a run, it counted them or not by chance: 3.9 per
 *   job for a build that, read 11 s after, said 2.3, and counted this way, 8.8. So `all` is read
 *   once the system's connections are gone.
 *
 * @example
 * const tx = await transactionCounter(stats);   // the system started and idle
 * …run…; await tx.end();                         // at the clock's end
 * …stop the system…; const { writes, all } = await tx.settled(url, ownReads);
 */
export async function transactionCounter(client) {
  await sleep(1200); // the start-up's last commits reported, where they can be (see above)
  const read = async () =>
    (
      await client.query(
        `SELECT xact_commit::int AS n, pg_snapshot_xmax(pg_current_snapshot())::text AS xid
         FROM pg_stat_database WHERE datname = current_database()`,
      )
    ).rows[0];
  const start = await read();
  let writes = NaN;
  return {
    async end() {
      writes = Number((await read()).xid) - Number(start.xid);
    },
    /** Both counts; `ownReads`: the bench's own statements on the database since the start. */
    async settled(url, ownReads) {
      const all = (await settledCommitCount(url)) - start.n - ownReads;
      return { writes, all };
    },
  };
}

/**
 * The database's xact_commit once nothing else is connected to it: a backend reports its counts
 * as it exits, before it leaves pg_stat_activity (see transactionCounter).
 */
async function settledCommitCount(url) {
  const c = await pgClient(url);
  try {
    for (;;) {
      const { rows } = await c.query(
        `SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()`,
      );
      if (rows[0].n === 0) break;
      await sleep(50);
    }
    const { rows } = await c.query(
      `SELECT xact_commit::int AS n FROM pg_stat_database WHERE datname = current_database()`,
    );
    return rows[0].n;
  } finally {
    await c.end();
  }
}

/** A connection the server ends (another session's DROP … WITH (FORCE), say) must not crash the bench. */
function quiet(client) {
  client.on('error', (err) => console.error(`(pg connection error: ${err.message})`));
  return client;
}

// ---------------------------------------------------------------------------------------------
// Inputs.

export const CSV_HEADER = 'order_id,customer_email,quantity,unit_price,ordered_at,paid,note\n';

/** Writes a CSV of at least `sizeBytes` (orders with a quoted field), reusing one already there. */
export async function writeCsv(file, sizeBytes) {
  if (fs.existsSync(file) && fs.statSync(file).size >= sizeBytes) return fs.statSync(file).size;
  const out = fs.createWriteStream(file);
  out.write(CSV_HEADER);
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
  return fs.statSync(file).size;
}

// ---------------------------------------------------------------------------------------------
// Figures.

/** The p-th percentile (nearest rank) of `values`, p in 0–100. */
export function percentile(values, p) {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.max(1, Math.ceil((p / 100) * sorted.length));
  return sorted[rank - 1];
}

export const median = (values) => percentile(values, 50);

export const fmt = {
  ms: (v) => (Number.isFinite(v) ? `${v < 10 ? v.toFixed(2) : v.toFixed(1)} ms` : '–'),
  mib: (b) => (Number.isFinite(b) ? `${(b / MiB).toFixed(0)} MiB` : '–'),
  ratio: (v) => (Number.isFinite(v) ? `${v.toFixed(2)}×` : '–'),
  int: (v) => (Number.isFinite(v) ? Math.round(v).toLocaleString('en-US') : '–'),
  rate: (v, unit) =>
    Number.isFinite(v) ? `${v >= 100 ? Math.round(v).toLocaleString('en-US') : v.toFixed(1)} ${unit}` : '–',
};

/** Prints a Markdown table (what BENCHMARKS.md holds), columns padded for the terminal. */
export function printTable(headers, rows) {
  const cells = [headers, ...rows.map((r) => r.map((c) => String(c ?? '–')))];
  const widths = headers.map((_, i) => Math.max(3, ...cells.map((r) => r[i].length)));
  const line = (r) => `| ${r.map((c, i) => c.padEnd(widths[i])).join(' | ')} |`;
  console.log(line(cells[0]));
  console.log(`| ${widths.map((w) => '-'.repeat(w)).join(' | ')} |`);
  for (const r of cells.slice(1)) console.log(line(r));
  console.log();
}

/** The machine, printed above each table so a figure is never read without its context. */
export function printContext(title) {
  const load = os
    .loadavg()
    .map((l) => l.toFixed(1))
    .join(' ');
  console.log(`# ${title}`);
  console.log(
    `node ${process.version}, ${os.cpus().length} cores, load average ${load}, ${new Date().toISOString()}\n`,
  );
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** `fn` run at most once: later calls answer the first call's promise (a stop in both try and finally). */
export function once(fn) {
  let done;
  return () => (done ??= fn());
}
