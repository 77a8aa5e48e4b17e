import { describe, expect, it } from '@jest/globals';
import { sql } from '../../../core/db/sql.js';
import { dbKinds, openTestDatabase } from '../../helpers/db.js';

describe('sql (statements for the raw driver)', () => {
  const site = (a: unknown, b: unknown) => sql`SELECT ${a}::int + ${b}::int AS n`;

  it('numbers the parameters and keeps the values out of the text', () => {
    const s = site(1, "2'; DROP TABLE jobs; --");
    expect(s.text).toBe('SELECT $1::int + $2::int AS n');
    expect(s.values).toEqual([1, "2'; DROP TABLE jobs; --"]);
  });

  it('names a call site once (prepared once per connection), another site differently', () => {
    expect(site(1, 2).name).toBe(site(3, 4).name);
    expect(sql`SELECT 1`.name).not.toBe(site(1, 2).name);
  });

  it.each(dbKinds())('runs on %s through Database.query', async (kind) => {
    const t = await openTestDatabase(kind);
    try {
      // Twice: the second run uses the statement prepared by the first (PostgreSQL).
      for (const [a, b] of [
        [1, 2],
        [40, 2],
      ])
        expect(await t.db.query<{ n: number }>(site(a, b))).toEqual([{ n: a + b }]);
      const arrays = sql`SELECT array_length(${['a', null, 'c']}::text[], 1) AS n, ${[true, false]}::bool[] AS b`;
      expect(await t.db.query(arrays)).toEqual([{ n: 3, b: [true, false] }]);
    } finally {
      await t.close();
    }
  });
});
