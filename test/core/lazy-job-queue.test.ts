import { describe, expect, it } from '@jest/globals';
import { LazyJobQueue } from '../../core/lazy-job-queue.js';
import type { JobQueue } from '../../core/queue/job-queue.js';

/** A queue that records the calls it gets (the adapters themselves have their own suites). */
function recordingQueue(calls: string[]): JobQueue {
  return {
    send: async (jobId, _tx, opts) => void calls.push(`send ${jobId} ${opts?.delaySeconds ?? 0}`),
    sendMany: async (jobIds) => void calls.push(`sendMany ${jobIds.join(',')}`),
    afterCommit: () => void calls.push('afterCommit'),
    receive: async () => (calls.push('receive'), []),
    delete: async (r) => void calls.push(`delete ${r}`),
    deadLetter: async (r, jobId) => (calls.push(`deadLetter ${r} ${jobId}`), true),
    changeVisibility: async (r, s) => void calls.push(`changeVisibility ${r} ${s}`),
    stats: async () => (
      calls.push('stats'),
      { waiting: 0, inFlight: 0, deadLetters: 0, oldestAgeSeconds: 0 }
    ),
    redriveDeadLetters: async () => (calls.push('redrive'), { moved: 0, dropped: 0 }),
    close: async () => void calls.push('close'),
  };
}

describe('LazyJobQueue', () => {
  it('opens its queue at the first use, once, and passes every call through', async () => {
    const calls: string[] = [];
    let opened = 0;
    const queue = new LazyJobQueue(async () => {
      opened++;
      return recordingQueue(calls);
    });
    queue.afterCommit(); // nothing was sent through it: nothing to wake, nothing opened
    expect(opened).toBe(0);
    await queue.changeVisibility('r1', 30);
    await queue.send('j1', undefined, { delaySeconds: 5 });
    await queue.sendMany(['j4', 'j5']);
    queue.afterCommit();
    expect(await queue.deadLetter('r2', 'j2')).toBe(true);
    await queue.delete('r3');
    await queue.receive({ max: 1, waitMs: 0 });
    await queue.stats();
    await queue.redriveDeadLetters(new Set());
    await queue.close();
    expect(opened).toBe(1);
    expect(calls).toEqual([
      'changeVisibility r1 30',
      'send j1 5',
      'sendMany j4,j5',
      'afterCommit',
      'deadLetter r2 j2',
      'delete r3',
      'receive',
      'stats',
      'redrive',
      'close',
    ]);
  });

  it('closes without opening when never used', async () => {
    let opened = 0;
    const queue = new LazyJobQueue(async () => {
      opened++;
      return recordingQueue([]);
    });
    await queue.close();
    expect(opened).toBe(0);
  });

  it('tries a direct changeVisibility first, and opens the queue only where it does not apply', async () => {
    const calls: string[] = [];
    let opened = 0;
    const direct: string[] = [];
    const queue = new LazyJobQueue(
      async () => {
        opened++;
        return recordingQueue(calls);
      },
      { changeVisibility: async (r, s) => (direct.push(`${r} ${s}`), r !== 'sdk-only') },
    );
    await queue.changeVisibility('r1', 30);
    expect([opened, direct, calls]).toEqual([0, ['r1 30'], []]);
    await queue.changeVisibility('sdk-only', 30);
    expect([opened, direct, calls]).toEqual([1, ['r1 30', 'sdk-only 30'], ['changeVisibility sdk-only 30']]);
  });

  it('tries to open again at the next use after a failed open', async () => {
    const calls: string[] = [];
    let attempts = 0;
    const queue = new LazyJobQueue(async () => {
      if (++attempts === 1) throw new Error('the SDK could not be loaded');
      return recordingQueue(calls);
    });
    await expect(queue.changeVisibility('r1', 0)).rejects.toThrow('the SDK could not be loaded');
    await queue.changeVisibility('r1', 0);
    expect(calls).toEqual(['changeVisibility r1 0']);
    expect(attempts).toBe(2);
  });
});
