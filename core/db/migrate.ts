import { createHash, randomUUID } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import type { Database, SqlSession } from './database.js';
import { packageRoot } from '../package-root.js';

/** Arbitrary but fixed: the advisory-lock key that serialises concurrent `migrate` runs. */
const MIGRATION_LOCK_KEY = 72_220_001;

export interface Migration {
  name: string;
  sql: string;
  checksum: string;
}

export function readMigrations(dir = path.join(packageRoot(), 'prisma', 'migrations')): Migration[] {
  return fs
    .readdirSync(dir, { withFileTypes: true })
    .filter((d) => d.isDirectory() && fs.existsSync(path.join(dir, d.name, 'migration.sql')))
    .map((d) => d.name)
    .sort()
    .map((name) => {
      const sql = fs.readFileSync(path.join(dir, name, 'migration.sql'), 'utf8');
      return { name, sql, checksum: createHash('sha256').update(sql).digest('hex') };
    });
}

export class MigrationError extends Error {
  override name = 'MigrationError';
}

/**
 * Applies pending migrations from prisma/migrations, each in its own transaction, recording them
 * in Prisma's own `_prisma_migrations` table (so `prisma migrate status` agrees). Safe to run twice
 * and from two processes at once: runs hold an advisory lock, and applied migrations are skipped.
 * Returns the names it applied.
 */
export async function migrate(db: Database, migrations = readMigrations()): Promise<string[]> {
  return db.session(async (s) => {
    await s.query('SELECT pg_advisory_lock($1)', [MIGRATION_LOCK_KEY]);
    try {
      return await applyPending(s, migrations);
    } finally {
      await s.query('SELECT pg_advisory_unlock($1)', [MIGRATION_LOCK_KEY]).catch(() => {});
    }
  });
}

async function applyPending(s: SqlSession, migrations: Migration[]): Promise<string[]> {
  await s.exec(`CREATE TABLE IF NOT EXISTS "_prisma_migrations" (
    "id" VARCHAR(36) PRIMARY KEY NOT NULL,
    "checksum" VARCHAR(64) NOT NULL,
    "finished_at" TIMESTAMPTZ,
    "migration_name" VARCHAR(255) NOT NULL,
    "logs" TEXT,
    "rolled_back_at" TIMESTAMPTZ,
    "started_at" TIMESTAMPTZ NOT NULL DEFAULT now(),
    "applied_steps_count" INTEGER NOT NULL DEFAULT 0
  )`);
  const applied = await s.query<{ migration_name: string; checksum: string }>(
    `SELECT migration_name, checksum FROM "_prisma_migrations" WHERE finished_at IS NOT NULL AND rolled_back_at IS NULL`,
  );
  const done = new Map(applied.map((r) => [r.migration_name, r.checksum]));
  const ran: string[] = [];
  for (const m of migrations) {
    const checksum = done.get(m.name);
    if (checksum !== undefined) {
      if (checksum !== m.checksum) {
        throw new MigrationError(
          `Migration ${m.name} was changed after it was applied; add a new migration instead`,
        );
      }
      continue;
    }
    try {
      await s.exec('BEGIN');
      await s.exec(m.sql);
      await s.query(
        `INSERT INTO "_prisma_migrations" (id, checksum, migration_name, finished_at, applied_steps_count)
         VALUES ($1, $2, $3, now(), 1)`,
        [randomUUID(), m.checksum, m.name],
      );
      await s.exec('COMMIT');
    } catch (err) {
      await s.exec('ROLLBACK').catch(() => {});
      throw new MigrationError(`Migration ${m.name} failed: ${(err as Error).message}`, { cause: err });
    }
    ran.push(m.name);
  }
  return ran;
}
