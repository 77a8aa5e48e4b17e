import { spawn } from 'node:child_process';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { PrismaPg } from '@prisma/adapter-pg';
import pg from 'pg';
import { PrismaClient } from './generated/client.js';
import { PgListener } from './pg-listener.js';
import type { SqlStatement } from './sql.js';
import { mkdirPrivateSync, restrictTree } from '../private-files.js';

export type Prisma = InstanceType<typeof PrismaClient>;

/**
 * One database, embedded (PGlite) or a PostgreSQL server, behind the same Prisma client.
 * `exec` runs multi-statement SQL (migrations) on the raw driver; `listen` subscribes to
 * NOTIFY channels (used to wake the worker and, later, to stream logs).
 */
export interface Database {
  readonly kind: 'pglite' | 'postgres';
  readonly prisma: Prisma;
  /**
   * Runs one statement (built with `sql` from ./sql.ts) on the raw driver, bypassing Prisma's
   * client: the job store's hot paths (create, claim, an attempt's end), where the client's CPU
   * per statement was most of a job's cost (BENCHMARKS.md, throughput). Only core/jobs/store/
   * uses it. Rows come as the driver gives them: int8 as a string (pg) or a number (PGlite),
   * jsonb parsed, timestamptz as Date.
   */
  query<R = Record<string, unknown>>(statement: SqlStatement): Promise<R[]>;
  /** Runs `fn` on one raw connection (multi-statement SQL, advisory locks), bypassing Prisma. */
  session<T>(fn: (s: SqlSession) => Promise<T>): Promise<T>;
  /**
   * LISTENs on `channel` until the returned function is called. On PostgreSQL every channel of
   * the process shares one listening connection, re-established after a loss (server restart,
   * terminated backend); `onReconnect` then runs, since notifications sent meanwhile were missed.
   */
  listen(
    channel: string,
    onNotify: (payload: string) => void,
    opts?: { onReconnect?: () => void },
  ): Promise<() => Promise<void>>;
  /** PGlite only: its data directory as an uncompressed tar (a `seed` for another database). */
  dump?(): Promise<Blob>;
  close(): Promise<void>;
}

export interface SqlSession {
  query<R = Record<string, unknown>>(sql: string, params?: unknown[]): Promise<R[]>;
  /** Runs one or more statements with the simple query protocol. */
  exec(sql: string): Promise<void>;
}

export interface DatabaseOptions {
  /** postgresql:// URL; when absent an embedded PGlite database is used. */
  url?: string;
  /** PGlite data directory; absent (with no url) means in memory, for tests. */
  dir?: string;
  /**
   * In memory only: start from this dump of a data directory (`Database.dump`) instead of
   * running initdb, which is most of a new PGlite's start (tests start each suite's database from
   * one migrated dump: about 1 s instead of 4-8 s).
   */
  seed?: Blob;
}

export async function openDatabase(opts: DatabaseOptions): Promise<Database> {
  return opts.url ? openPostgres(opts.url) : openPglite(opts.dir, opts.seed);
}

/**
 * Prisma gives up on an interactive transaction that waits more than 2 s for a connection: a
 * burst of submissions (hundreds at once on a pool of 10) would get 500s. Waiting longer is
 * what a queue for the pool is for; 30 s still bounds it.
 */
const TRANSACTION_OPTIONS = { maxWait: 30_000, timeout: 30_000 };

/** How long PostgreSQL lets a session sit idle inside a transaction before ending it. */
export const IDLE_IN_TRANSACTION_MS = 15_000;

async function openPostgres(url: string): Promise<Database> {
  const pool = new pg.Pool({
    connectionString: url,
    max: 10,
    keepAlive: true,
    // A process frozen or hung between two statements of a transaction (SIGSTOP, a stalled event
    // loop) would hold that transaction's row locks for as long as it hangs: a reaper sweep that
    // locked an expired job would stop every claim, cancel and sweep of that job. The server ends
    // such a transaction after this long idle; none of ours idles between statements for more than
    // moments. (Seen in the hung-worker test: a worker frozen inside its reaper's transaction.)
    options: `-c idle_in_transaction_session_timeout=${IDLE_IN_TRANSACTION_MS}`,
  });
  // An idle client that loses its connection emits 'error' on the pool; without a listener that
  // would crash the process. The pool drops that client and the next query gets a new connection
  // (after a PostgreSQL restart, every idle client errors this way at once).
  pool.on('error', () => {});
  const prisma = new PrismaClient({ adapter: new PrismaPg(pool), transactionOptions: TRANSACTION_OPTIONS });
  // Every channel of the process on one connection (see PgListener for why).
  const listener = new PgListener({ url });
  return {
    kind: 'postgres',
    prisma,
    // Named: each pooled connection prepares the statement once.
    query: async <R>(s: SqlStatement) =>
      (await pool.query({ name: s.name, text: s.text, values: s.values })).rows as R[],
    async session(fn) {
      const client = await pool.connect();
      let broken = false;
      try {
        return await fn({
          query: async <R>(sql: string, params?: unknown[]) => (await client.query(sql, params)).rows as R[],
          exec: async (sql: string) => {
            await client.query(sql);
          },
        });
      } catch (err) {
        broken = true; // it may be inside a failed transaction: do not hand it to anyone else
        throw err;
      } finally {
        client.release(broken);
      }
    },
    listen: (channel, onNotify, opts = {}) => listener.listen(channel, onNotify, opts.onReconnect),
    async close() {
      await listener.close();
      await prisma.$disconnect();
      await pool.end();
    },
  };
}

// PostgreSQL sizes its shared memory for its settings at start, and PGlite keeps all of it in the
// server's memory. Its defaults fit a database server, not one embedded connection:
// - shared_buffers (128 MB): the embedded database is small and its files are in the OS page
//   cache anyway; 4 MB measured as fast as 8 MB (point selects, list pages and inserts on 200k
//   rows) and 4 MB lighter (BENCHMARKS.md, ingest);
// - max_connections (100): PGlite is one backend; each slot reserves lock and process tables
//   (-4 MB). 4 leaves superuser_reserved_connections (3) one below it, as PostgreSQL requires.
const PGLITE_OPTIONS = { postgresqlconf: ['shared_buffers=4MB', 'max_connections=4'] };

async function openPglite(dir?: string, seed?: Blob): Promise<Database> {
  // (The embedded server's V8 flags are set by its entry point: cli/lib/v8-flags.ts.)
  // PGlite and its adapter are loaded lazily: a Postgres deployment (and the Lambda bundle) never
  // needs the WASM build.
  const { PGlite } = await import('@electric-sql/pglite');
  const { PrismaPGlite } = await import('pglite-prisma-adapter');
  if (dir && !fs.existsSync(path.join(dir, 'PG_VERSION'))) await initPgliteDir(dir);
  const pglite = dir
    ? await PGlite.create(dir, PGLITE_OPTIONS)
    : await PGlite.create({ ...PGLITE_OPTIONS, ...(seed ? { loadDataDir: seed } : {}) });
  // PGlite sets some modes itself, whatever the umask: initdb unpacks its files 0666, the start
  // writes the relation cache files 0644; a directory of an older version may be open too. The
  // database is this process's alone: nobody else may read or write it.
  if (dir) await restrictTree(dir);
  const prisma = new PrismaClient({ adapter: new PrismaPGlite(pglite) });
  return {
    kind: 'pglite',
    prisma,
    query: async <R>(s: SqlStatement) => (await pglite.query<R>(s.text, s.values)).rows,
    session: (fn) =>
      fn({
        query: async <R>(sql: string, params?: unknown[]) => (await pglite.query<R>(sql, params)).rows,
        exec: async (sql: string) => {
          await pglite.exec(sql);
        },
      }),
    async listen(channel, onNotify) {
      // In-process: notifications cannot be lost to a dropped connection.
      return pglite.listen(channel, onNotify);
    },
    async dump() {
      return pglite.dumpDataDir('none');
    },
    async close() {
      await prisma.$disconnect();
      await pglite.close();
    },
  };
}

/**
 * Creates a new PGlite data directory in a short-lived child process. initdb grows PGlite's WASM
 * heap to ~900 MB and WASM memory never shrinks, so doing it in the server itself would leave the
 * server hundreds of MB larger for its whole life.
 */
async function initPgliteDir(dir: string): Promise<void> {
  mkdirPrivateSync(path.dirname(dir));
  const entry = createRequire(import.meta.url).resolve('@electric-sql/pglite');
  const script = `const { PGlite } = require(${JSON.stringify(entry)});
    PGlite.create(process.argv[1], ${JSON.stringify(PGLITE_OPTIONS)}).then((db) => db.close()).then(
      () => process.exit(0), (err) => { console.error(err.message); process.exit(1); });`;
  const stderr = await new Promise<string>((resolve, reject) => {
    // Its own short-lived process, so its own flags: Liftoff alone compiles PGlite's WASM without
    // TurboFan's second pass (measured on a loaded 2-core machine: 41 s instead of 163 s, and
    // 100 MB less), which is all a one-off initdb needs.
    const child = spawn(process.execPath, ['--liftoff-only', '-e', script, dir], {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let err = '';
    child.stderr.setEncoding('utf8').on('data', (d: string) => (err += d));
    child.on('error', reject);
    child.on('exit', (code) => (code === 0 ? resolve('') : resolve(err || `exit code ${code}`)));
  });
  if (stderr) throw new Error(`cannot create the embedded database in ${dir}: ${stderr.trim()}`);
}
