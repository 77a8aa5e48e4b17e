import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { openDatabase, type Database } from '../../../core/db/database.js';
import { migrate, MigrationError, readMigrations } from '../../../core/db/migrate.js';
import { createScratchDatabase } from '../../helpers/db.js';

/** `jobs db migrate` on a PostgreSQL server: safe to run twice, and from two processes at once. */
const withPostgres = process.env.TEST_DATABASE_URL ? describe : describe.skip;

withPostgres('migrate on PostgreSQL', () => {
  let scratch: { url: string; drop: () => Promise<void> };
  let a: Database;
  let b: Database;

  beforeAll(async () => {
    scratch = await createScratchDatabase();
    [a, b] = await Promise.all([openDatabase({ url: scratch.url }), openDatabase({ url: scratch.url })]);
  });
  afterAll(async () => {
    await Promise.all([a?.close(), b?.close()]);
    await scratch?.drop();
  });

  it('applies each migration once when two runs race, and nothing on a third run', async () => {
    const [ranA, ranB] = await Promise.all([migrate(a), migrate(b)]);
    const all = readMigrations().map((m) => m.name);
    expect([...ranA, ...ranB].sort()).toEqual(all.sort());
    expect(await migrate(a)).toEqual([]);
    const rows = await a.session((s) =>
      s.query<{ migration_name: string }>('SELECT migration_name FROM "_prisma_migrations" ORDER BY 1'),
    );
    expect(rows.map((r) => r.migration_name)).toEqual([...all].sort());
  });

  it('refuses a migration that was edited after it was applied', async () => {
    const edited = readMigrations().map((m, i) => (i === 0 ? { ...m, checksum: 'f'.repeat(64) } : m));
    await expect(migrate(a, edited)).rejects.toThrow(MigrationError);
    await expect(migrate(a, edited)).rejects.toThrow(/was changed after it was applied/);
  });

  it('rolls back a failing migration as a whole', async () => {
    const broken = [
      ...readMigrations(),
      {
        name: '29991231000000_broken',
        sql: 'CREATE TABLE half_done (id int); SELECT * FROM no_such_table;',
        checksum: 'x',
      },
    ];
    await expect(migrate(a, broken)).rejects.toThrow(/29991231000000_broken failed/);
    const tables = await a.session((s) =>
      s.query<{ n: string }>(
        "SELECT count(*)::text AS n FROM information_schema.tables WHERE table_name = 'half_done'",
      ),
    );
    expect(tables[0].n).toBe('0');
  });
});
