import fs from 'node:fs';
import path from 'node:path';
import { PrismaPg } from '@prisma/adapter-pg';
import pg from 'pg';
import { PrismaClient } from './generated/client.js';

export type Prisma = InstanceType<typeof PrismaClient>;

/**
 * One database, embedded (PGlite) or a PostgreSQL server, behind the same Prisma client.
 * `exec` runs multi-statement SQL (migrations) on the raw driver; `listen` subscribes to
 * NOTIFY channels (used to wake the worker and, later, to stream logs).
 */
export interface Database {
  readonly kind: 'pglite' | 'postgres';
  readonly prisma: Prisma;
  /** Runs `fn` on one raw connection (multi-statement SQL, advisory locks), bypassing Prisma. */
  session<T>(fn: (s: SqlSession) => Promise<T>): Promise<T>;
  listen(channel: string, onNotify: (payload: string) => void): Promise<() => Promise<void>>;
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
}

export async function openDatabase(opts: DatabaseOptions): Promise<Database> {
  return opts.url ? openPostgres(opts.url) : openPglite(opts.dir);
}

async function openPostgres(url: string): Promise<Database> {
  const pool = new pg.Pool({ connectionString: url, max: 10 });
  // An idle client that loses its connection emits 'error' on the pool; without a listener that
  // would crash the process. The next query simply gets a new connection.
  pool.on('error', () => {});
  const prisma = new PrismaClient({ adapter: new PrismaPg(pool) });
  const listeners = new Set<pg.Client>();
  return {
    kind: 'postgres',
    prisma,
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
    async listen(channel, onNotify) {
      const client = new pg.Client({ connectionString: url });
      client.on('error', () => {});
      await client.connect();
      client.on('notification', (msg) => {
        if (msg.channel === channel) onNotify(msg.payload ?? '');
      });
      await client.query(`LISTEN ${pg.escapeIdentifier(channel)}`);
      listeners.add(client);
      return async () => {
        listeners.delete(client);
        await client.end().catch(() => {});
      };
    },
    async close() {
      await Promise.all([...listeners].map((c) => c.end().catch(() => {})));
      await prisma.$disconnect();
      await pool.end();
    },
  };
}

async function openPglite(dir?: string): Promise<Database> {
  // PGlite and its adapter are loaded lazily: a Postgres deployment (and the Lambda bundle) never
  // needs the WASM build.
  const { PGlite } = await import('@electric-sql/pglite');
  const { PrismaPGlite } = await import('pglite-prisma-adapter');
  if (dir) fs.mkdirSync(path.dirname(dir), { recursive: true });
  // PGlite's default shared_buffers (128 MB) would dominate the server's memory; the embedded
  // database is small and mostly hits the OS page cache anyway.
  const options = { postgresqlconf: ['shared_buffers=8MB'] };
  const pglite = dir ? await PGlite.create(dir, options) : await PGlite.create(options);
  const prisma = new PrismaClient({ adapter: new PrismaPGlite(pglite) });
  return {
    kind: 'pglite',
    prisma,
    session: (fn) =>
      fn({
        query: async <R>(sql: string, params?: unknown[]) => (await pglite.query<R>(sql, params)).rows,
        exec: async (sql: string) => {
          await pglite.exec(sql);
        },
      }),
    async listen(channel, onNotify) {
      return pglite.listen(channel, onNotify);
    },
    async close() {
      await prisma.$disconnect();
      await pglite.close();
    },
  };
}
