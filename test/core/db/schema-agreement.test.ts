import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { migrate, readMigrations } from '../../../core/db/migrate.js';
import { openDatabase, type Database } from '../../../core/db/database.js';
import { packageRoot } from '../../../core/package-root.js';

/**
 * prisma/schema.prisma and prisma/migrations must describe the same database. `prisma migrate
 * diff` needs the schema engine (not available offline), so this test does the comparison itself:
 * it applies the migrations to a fresh PGlite, introspects the catalog, and checks it against
 * Prisma's own reading of the schema (DMMF from @prisma/prisma-schema-wasm): tables, columns
 * (type, nullability, default present), enums, primary keys, unique and plain indexes (with
 * column order and sort direction), and foreign keys.
 */

interface DmmfField {
  name: string;
  dbName?: string | null;
  kind: 'scalar' | 'object' | 'enum';
  type: string;
  isList: boolean;
  isRequired: boolean;
  isId: boolean;
  isUnique: boolean;
  hasDefaultValue: boolean;
  nativeType?: [string, string[]] | null;
  relationFromFields?: string[];
}
interface DmmfModel {
  name: string;
  dbName: string | null;
  fields: DmmfField[];
  primaryKey: { fields: string[] } | null;
}
interface DmmfIndex {
  model: string;
  type: 'id' | 'unique' | 'normal';
  fields: { name: string; sortOrder?: 'asc' | 'desc' }[];
}

const require = createRequire(import.meta.url);

function readDmmf() {
  const wasm = require('@prisma/prisma-schema-wasm') as { get_dmmf(params: string): string };
  const schema = fs.readFileSync(path.join(packageRoot(), 'prisma', 'schema.prisma'), 'utf8');
  return JSON.parse(wasm.get_dmmf(JSON.stringify({ prismaSchema: schema }))).datamodel as {
    models: DmmfModel[];
    enums: { name: string; values: { name: string }[] }[];
    indexes: DmmfIndex[];
  };
}

/** The Postgres type Prisma creates for a scalar field. */
function expectedType(f: DmmfField, enums: Set<string>): string {
  if (f.kind === 'enum' || enums.has(f.type)) return f.type;
  const native = f.nativeType?.[0];
  const base = native
    ? (({ Uuid: 'uuid', Timestamptz: 'timestamptz', Text: 'text' } as Record<string, string>)[native] ??
      native.toLowerCase())
    : (
        {
          String: 'text',
          Int: 'int4',
          BigInt: 'int8',
          DateTime: 'timestamp',
          Json: 'jsonb',
          Boolean: 'bool',
          Float: 'float8',
        } as Record<string, string>
      )[f.type];
  return f.isList ? `_${base}` : base;
}

describe('schema.prisma and prisma/migrations', () => {
  let db: Database;
  const dmmf = readDmmf();
  const enumNames = new Set(dmmf.enums.map((e) => e.name));
  const tableOf = (m: DmmfModel) => m.dbName ?? m.name;
  const columnOf = (m: DmmfModel, field: string) => {
    const f = m.fields.find((x) => x.name === field)!;
    return f.dbName ?? f.name;
  };

  beforeAll(async () => {
    db = await openDatabase({});
    await migrate(db);
  });
  afterAll(async () => {
    await db.close();
  });

  const q = <T>(sql: string) => db.session((s) => s.query<T>(sql));

  it("keeps migrations in Prisma's layout", () => {
    const migrations = readMigrations();
    expect(migrations.length).toBeGreaterThan(0);
    for (const m of migrations) expect(m.name).toMatch(/^\d{14}_[a-z0-9_]+$/);
    expect(fs.existsSync(path.join(packageRoot(), 'prisma', 'migrations', 'migration_lock.toml'))).toBe(true);
  });

  it('creates exactly the tables of the schema', async () => {
    const tables = await q<{ table_name: string }>(
      `SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' AND table_name <> '_prisma_migrations'`,
    );
    expect(tables.map((t) => t.table_name).sort()).toEqual(dmmf.models.map(tableOf).sort());
  });

  it('creates the enums of the schema', async () => {
    const rows = await q<{ name: string; value: string }>(
      `SELECT t.typname AS name, e.enumlabel AS value FROM pg_enum e JOIN pg_type t ON t.oid = e.enumtypid ORDER BY t.typname, e.enumsortorder`,
    );
    const actual: Record<string, string[]> = {};
    for (const r of rows) (actual[r.name] ??= []).push(r.value);
    const expected = Object.fromEntries(dmmf.enums.map((e) => [e.name, e.values.map((v) => v.name)]));
    expect(actual).toEqual(expected);
  });

  it('gives every model the columns, types, nullability and defaults of its fields', async () => {
    const cols = await q<{
      table_name: string;
      column_name: string;
      udt_name: string;
      is_nullable: string;
      column_default: string | null;
    }>(
      `SELECT table_name, column_name, udt_name, is_nullable, column_default FROM information_schema.columns WHERE table_schema = 'public'`,
    );
    for (const m of dmmf.models) {
      const actual = cols
        .filter((c) => c.table_name === tableOf(m))
        .map((c) => ({
          column: c.column_name,
          type: c.udt_name,
          nullable: c.is_nullable === 'YES',
          hasDefault: c.column_default !== null,
        }))
        .sort((a, b) => a.column.localeCompare(b.column));
      const expected = m.fields
        .filter((f) => f.kind !== 'object')
        .map((f) => ({
          column: f.dbName ?? f.name,
          type: expectedType(f, enumNames),
          // Prisma creates scalar lists as nullable arrays.
          nullable: f.isList ? true : !f.isRequired,
          hasDefault: f.hasDefaultValue,
        }))
        .sort((a, b) => a.column.localeCompare(b.column));
      expect({ table: tableOf(m), columns: actual }).toEqual({ table: tableOf(m), columns: expected });
    }
  });

  it('creates the primary keys, unique and plain indexes of the schema', async () => {
    const rows = await q<{
      table: string;
      columns: string[];
      sorts: string[];
      is_unique: boolean;
      is_primary: boolean;
    }>(`
      SELECT t.relname AS table,
             array_agg(a.attname ORDER BY k.ord) AS columns,
             array_agg(CASE WHEN (ix.indoption[k.ord - 1] & 1) = 1 THEN 'desc' ELSE 'asc' END ORDER BY k.ord) AS sorts,
             ix.indisunique AS is_unique, ix.indisprimary AS is_primary
      FROM pg_index ix
      JOIN pg_class t ON t.oid = ix.indrelid
      JOIN pg_namespace n ON n.oid = t.relnamespace AND n.nspname = 'public'
      JOIN LATERAL unnest(ix.indkey) WITH ORDINALITY AS k(attnum, ord) ON true
      JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = k.attnum
      WHERE t.relname <> '_prisma_migrations'
      GROUP BY t.relname, ix.indexrelid, ix.indisunique, ix.indisprimary`);
    const describe = (table: string, kind: string, cols: string[], sorts: string[]) =>
      `${table} ${kind} (${cols.map((c, i) => `${c} ${sorts[i]}`).join(', ')})`;
    const actual = rows
      .map((r) =>
        describe(r.table, r.is_primary ? 'id' : r.is_unique ? 'unique' : 'normal', r.columns, r.sorts),
      )
      .sort();
    const expected = dmmf.indexes
      .map((ix) => {
        const m = dmmf.models.find((x) => x.name === ix.model)!;
        return describe(
          tableOf(m),
          ix.type,
          ix.fields.map((f) => columnOf(m, f.name)),
          ix.fields.map((f) => f.sortOrder ?? 'asc'),
        );
      })
      .sort();
    expect(actual).toEqual(expected);
  });

  it("creates the foreign keys of the schema's relations", async () => {
    const rows = await q<{ def: string; table: string }>(
      `SELECT conrelid::regclass::text AS table, pg_get_constraintdef(oid) AS def FROM pg_constraint WHERE contype = 'f'`,
    );
    const actual = rows.map((r) => `${r.table}: ${r.def.replace(/ ON UPDATE CASCADE/, '')}`).sort();
    const expected: string[] = [];
    for (const m of dmmf.models) {
      for (const f of m.fields) {
        if (f.kind !== 'object' || !f.relationFromFields?.length) continue;
        const target = dmmf.models.find((x) => x.name === f.type)!;
        const rel = f as DmmfField & { relationToFields: string[]; relationOnDelete?: string };
        const onDelete = rel.relationOnDelete === 'Cascade' ? ' ON DELETE CASCADE' : ' ON DELETE RESTRICT';
        expected.push(
          `${tableOf(m)}: FOREIGN KEY (${f.relationFromFields.map((x) => columnOf(m, x)).join(', ')}) REFERENCES ${tableOf(target)}(${rel.relationToFields.map((x) => columnOf(target, x)).join(', ')})${onDelete}`,
        );
      }
    }
    expect(actual).toEqual(expected.sort());
  });

  it('is safe to run twice', async () => {
    expect(await migrate(db)).toEqual([]);
  });
});
