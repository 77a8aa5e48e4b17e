import { describe, expect, it } from '@jest/globals';
import { GroupCommit } from '../../../core/db/group-commit.js';

/** A commit that stays in flight until released, recording each group it got. */
function heldCommit() {
  const groups: number[][] = [];
  const releases: (() => void)[] = [];
  const commit = async (items: number[]) => {
    groups.push(items);
    await new Promise<void>((r) => releases.push(r));
    return items.map((i) => i * 10);
  };
  return { groups, releases, commit };
}

describe('GroupCommit', () => {
  it('commits a lone call at once, and what arrives meanwhile in one next commit', async () => {
    const { groups, releases, commit } = heldCommit();
    const gc = new GroupCommit(commit);
    const first = gc.submit(1);
    expect(groups).toEqual([[1]]); // no timer: the idle path commits at once
    const rest = [gc.submit(2), gc.submit(3), gc.submit(4)];
    expect(groups).toEqual([[1]]); // waiting for the commit in flight
    releases[0]();
    expect(await first).toBe(10);
    await new Promise((r) => setImmediate(r));
    expect(groups).toEqual([[1], [2, 3, 4]]);
    releases[1]();
    expect(await Promise.all(rest)).toEqual([20, 30, 40]);
  });

  it('caps a group; a failed group is committed again item by item, failing only the bad one', async () => {
    const groups: number[][] = [];
    const gc = new GroupCommit(async (items: number[]) => {
      groups.push(items);
      if (items.includes(3)) throw new Error(`bad item in ${items.join(',')}`);
      return items;
    }, 2);
    const calls = [1, 2, 3, 4, 5].map((i) => gc.submit(i).then(String, (e: Error) => e.message));
    expect(await Promise.all(calls)).toEqual(['1', '2', 'bad item in 3', '4', '5']);
    // [1] alone (nothing in flight), then [2, 3] (fails), each again alone, then [4, 5].
    expect(groups).toEqual([[1], [2, 3], [2], [3], [4, 5]]);
  });
});
