import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { openDatabase, type Database } from '../../core/db/database.js';
import { migrate, readMigrations } from '../../core/db/migrate.js';

export type DbKind = 'pglite' | 'postgres';

/**
 * The databases a suite runs against: PGlite always; the local PostgreSQL server too when
 * TEST_DATABASE_URL is set (.ci/run sets it). Use with `describe.each(dbKinds())`.
 */
export function dbKinds(): DbKind[] {
  return process.env.TEST_DATABASE_URL ? ['pglite', 'postgres'] : ['pglite'];
}

export interface TestDatabase {
  db: Database;
  /** Empties every table (fast; call in beforeEach). */
  reset(): Promise<void>;
  /** Closes the database and drops the scratch Postgres database. */
  close(): Promise<void>;
  url?: string;
}

/** A migrated scratch database: in-memory PGlite, or a new database on the Postgres server. */
export async function openTestDatabase(kind: DbKind): Promise<TestDatabase> {
  if (kind === 'pglite') {
    const db = await openDatabase({ seed: await migratedPgliteSeed() });
    await migrate(db); // a no-op on the migrated seed; it still checks the seed is current
    await warmUp(db);
    return { db, reset: () => truncateAll(db), close: () => db.close() };
  }
  const { url, drop } = await createScratchDatabase();
  const db = await openDatabase({ url });
  await migrate(db);
  await warmUp(db);
  return {
    db,
    url,
    reset: () => truncateAll(db),
    close: async () => {
      await db.close();
      await drop();
    },
  };
}

/**
 * A dump of a new in-memory PGlite database with every migration applied, made once per set of
 * migrations and kept in the OS temp directory for every suite (and jest worker) after it. A new
 * PGlite runs initdb, 4-8 s of a suite's start on a loaded 2-core machine; one loaded from a dump
 * starts in about 1 s. Keyed by the migrations' checksums and PGlite's version, so a changed
 * migration or an upgrade makes a new one; written to a temporary name and renamed into place, so
 * workers making it at once cannot read half of one.
 */
let seed: Promise<Blob> | undefined;
function migratedPgliteSeed(): Promise<Blob> {
  return (seed ??= (async () => {
    const entry = createRequire(import.meta.url).resolve('@electric-sql/pglite');
    const pgliteDir = entry.slice(0, entry.lastIndexOf(`${path.sep}dist${path.sep}`));
    const pgliteVersion = (
      JSON.parse(fs.readFileSync(path.join(pgliteDir, 'package.json'), 'utf8')) as { version: string }
    ).version;
    const key = createHash('sha256')
      .update(pgliteVersion)
      .update(
        readMigrations()
          .map((m) => `${m.name}:${m.checksum}`)
          .join('\n'),
      )
      .digest('hex')
      .slice(0, 16);
    const file = path.join(os.tmpdir(), `jobs-test-pglite-${key}.tar`);
    if (!fs.existsSync(file)) {
      const db = await openDatabase({});
      try {
        await migrate(db);
        const tar = Buffer.from(await (await db.dump!()).arrayBuffer());
        const tmp = `${file}.${process.pid}.${randomBytes(4).toString('hex')}`;
        fs.writeFileSync(tmp, tar);
        fs.renameSync(tmp, file);
      } finally {
        await db.close();
      }
    }
    return new Blob([fs.readFileSync(file)]);
  })());
}

/** Creates an empty database on the TEST_DATABASE_URL server; `drop` removes it. */
export async function createScratchDatabase(): Promise<{ url: string; drop: () => Promise<void> }> {
  const base = process.env.TEST_DATABASE_URL;
  if (!base) throw new Error('TEST_DATABASE_URL is not set');
  const name = `jobs_test_${randomBytes(6).toString('hex')}`;
  const admin = new pg.Client({ connectionString: base });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${name}`);
  await admin.end();
  const url = new URL(base);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    drop: async () => {
      const c = new pg.Client({ connectionString: base });
      await c.connect();
      await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await c.end();
    },
  };
}

/**
 * Empties every table between tests. A test server's background loops (reaper, schedule ticker,
 * webhook deliverer) keep querying these tables; TRUNCATE's exclusive locks, taken table by table
 * down the cascade, can meet one of those queries the other way round, and PostgreSQL then ends
 * one of the two as a deadlock (40P01). The loop's query is simply run again next time: so is
 * this.
 */
async function truncateAll(db: Database): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    try {
      await db.prisma.$executeRawUnsafe(
        'TRUNCATE job_logs, queue_messages, jobs, api_tokens, users RESTART IDENTITY CASCADE',
      );
      return;
    } catch (err) {
      if (attempt >= 5 || !/40P01|deadlock detected/.test(String((err as Error).message))) throw err;
    }
  }
}

/**
 * Prisma loads its query compiler (WASM) on the first query; under jest's ESM VM that dynamic
 * import must happen inside a hook, not in a request handler that outlives the hook's context.
 */
async function warmUp(db: Database): Promise<void> {
  await db.prisma.$queryRaw`SELECT 1`;
}
