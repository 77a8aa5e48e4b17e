import { describe, expect, it } from '@jest/globals';
import { TokenValidity } from '../../../core/auth/token-validity.js';
import { until } from '../../helpers/counting.js';

/** A token table in memory whose reads are recorded. */
function tokens(active: string[]) {
  const live = new Set(active);
  const reads: string[][] = [];
  let down = false;
  return {
    live,
    reads,
    setDown: (v: boolean) => (down = v),
    read: async (ids: string[]) => {
      reads.push(ids);
      if (down) throw new Error('connect ECONNREFUSED');
      return new Set(ids.filter((id) => live.has(id)));
    },
  };
}

describe('TokenValidity', () => {
  it('answers many lookups of many tokens with one read, then from its cache until the period ends', async () => {
    const t = tokens(['a', 'b']);
    const v = new TokenValidity(t.read, { ttlMs: 60_000 });
    const answers = await Promise.all(
      Array.from({ length: 300 }, (_, i) => v.isActive(['a', 'b', 'c'][i % 3])),
    );
    expect(answers.slice(0, 3)).toEqual([true, true, false]);
    expect(t.reads).toHaveLength(1);
    expect(t.reads[0].sort()).toEqual(['a', 'b', 'c']);
    t.live.delete('a');
    expect(await v.isActive('a')).toBe(true); // cached: seen at most one period late
    expect(t.reads).toHaveLength(1);
  });

  it('sees a revocation after the period, and calls each watcher once', async () => {
    const t = tokens(['a', 'b']);
    const v = new TokenValidity(t.read, { ttlMs: 50 });
    const fired: string[] = [];
    const stops = [
      v.watch('a', () => fired.push('a1')),
      v.watch('a', () => fired.push('a2')),
      v.watch('b', () => fired.push('b')),
    ];
    expect(await v.isActive('a')).toBe(true);
    t.live.delete('a');
    await until(
      'the watchers of a to fire',
      () => [...fired].sort(),
      (f) => f.length >= 2,
      10_000,
    );
    const readsThen = t.reads.length;
    await until(
      'a few more periods',
      () => t.reads.length,
      (n) => n >= readsThen + 3,
      10_000,
    );
    expect(fired.sort()).toEqual(['a1', 'a2']); // once each, and b untouched
    // Every watched token in one query per period.
    expect(t.reads.slice(-3).every((ids) => ids.length <= 2)).toBe(true);
    for (const stop of stops) stop();
    expect(v.watched).toBe(0);
    // A sweep that began before the stops reads on the next turn (its batch waits a setImmediate):
    // let it land, then nothing more may come.
    await new Promise((r) => setImmediate(r));
    const stopped = t.reads.length;
    await new Promise((r) => setTimeout(r, 200));
    expect(t.reads.length).toBe(stopped); // no watchers: no timer, no reads
  });

  it('keeps the last answer (or assumes active) while the database cannot be read', async () => {
    const t = tokens(['a']);
    const v = new TokenValidity(t.read, { ttlMs: 1 });
    expect(await v.isActive('a')).toBe(true);
    t.setDown(true);
    t.live.delete('a');
    await new Promise((r) => setTimeout(r, 5));
    expect(await v.isActive('a')).toBe(true);
    expect(await v.isActive('never-seen')).toBe(true);
    t.setDown(false);
    await new Promise((r) => setTimeout(r, 5));
    expect(await v.isActive('a')).toBe(false);
  });
});
