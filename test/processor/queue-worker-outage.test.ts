import { getEventListeners } from 'node:events';
import { describe, expect, it } from '@jest/globals';
import { pino } from 'pino';
import type { JobQueue } from '../../core/queue/job-queue.js';
import { QueueWorker } from '../../processor/queue-worker.js';

/** A queue that is down: every receive throws (and reports the abort listeners on its signal). */
function downQueue(onReceive: (listeners: number) => void): JobQueue {
  const fail = () => Promise.reject(new Error('connect ECONNREFUSED 127.0.0.1:5432'));
  return {
    send: fail,
    sendMany: fail,
    receive: ({ signal }) => {
      onReceive(signal ? getEventListeners(signal, 'abort').length : -1);
      return fail();
    },
    delete: fail,
    deadLetter: fail,
    changeVisibility: fail,
    stats: fail,
    redriveDeadLetters: fail,
    close: () => Promise.resolve(),
  };
}

describe('the queue worker during a queue outage', () => {
  it('backs off between failed receives without piling abort listeners on its stop signal', async () => {
    const listeners: number[] = [];
    let wake: (() => void) | undefined;
    const worker = new QueueWorker(
      downQueue((n) => {
        listeners.push(n);
        if (listeners.length >= 200) wake?.();
      }),
      () => Promise.reject(new Error('never called')),
      { concurrency: 1, logger: pino({ level: 'silent' }), receiveBackoff: { baseMs: 1, maxMs: 2 } },
    );
    const enough = new Promise<void>((r) => (wake = r));
    worker.start();
    await enough;
    await worker.stop(100);
    // Each failed receive used to add a listener that its timer never removed (200 receives:
    // 199 listeners, growing for as long as the outage lasts).
    expect(listeners.length).toBeGreaterThanOrEqual(200);
    expect(Math.max(...listeners)).toBeLessThanOrEqual(1);
  });

  it('still stops at once while backing off', async () => {
    let received = 0;
    const worker = new QueueWorker(
      downQueue(() => received++),
      () => Promise.reject(new Error('never called')),
      {
        concurrency: 1,
        logger: pino({ level: 'silent' }),
        receiveBackoff: { baseMs: 60_000, maxMs: 60_000 },
      },
    );
    worker.start();
    while (received === 0) await new Promise((r) => setImmediate(r));
    const asked = Date.now();
    await worker.stop(100);
    expect(Date.now() - asked).toBeLessThan(5_000); // not the minute of backoff
  });
});
