import { describe, expect, it } from '@jest/globals';
import { pino } from 'pino';
import type { JobQueue } from '../../core/queue/job-queue.js';
import type { ProcessDelivery } from '../../processor/processor.js';
import { QueueWorker, type Received } from '../../processor/queue-worker.js';

const never = () => Promise.reject(new Error('not used'));
const queue: Pick<JobQueue, 'receive' | 'delete' | 'changeVisibility'> = {
  receive: never,
  delete: never,
  changeVisibility: never,
};

function message(n: number): Received {
  return {
    messageId: String(n),
    jobId: `job-${n}`,
    receiptHandle: `r-${n}`,
    receiveCount: 1,
    sentAt: new Date(),
    claimed: null,
  };
}

/** Resolves when `check` holds, checked on every turn of the event loop. */
async function until(check: () => boolean): Promise<void> {
  while (!check()) await new Promise((r) => setImmediate(r));
}

describe('the queue worker overlaps an outcome write with the next claim', () => {
  it('frees a slot once its handler is done, keeps at most `concurrency` writes in flight, and waits for them on stop', async () => {
    const asked: number[] = [];
    let next = 0;
    const writes: (() => void)[] = [];
    // Each delivery's handler finishes at once; its outcome write stays in flight until released.
    const process: ProcessDelivery = async (d) => {
      d.onHandlerDone?.();
      await new Promise<void>((resolve) => writes.push(resolve));
      return 'acked';
    };
    const worker = new QueueWorker(queue, process, {
      concurrency: 1,
      logger: pino({ level: 'silent' }),
      receive: async ({ max, signal }) => {
        asked.push(max);
        if (signal?.aborted) return [];
        return [message(next++)];
      },
    });
    worker.start();
    // The first job's write is in flight, and the slot already took a second job.
    await until(() => writes.length === 2);
    expect(asked).toEqual([1, 1]);
    // Two writes in flight on one slot: no third claim until one of them lands.
    for (let i = 0; i < 20; i++) await new Promise((r) => setImmediate(r));
    expect(asked).toEqual([1, 1]);
    writes[0]();
    await until(() => writes.length === 3);
    expect(asked).toEqual([1, 1, 1]);

    let stopped = false;
    const stopping = worker.stop(60_000).then(() => (stopped = true));
    for (let i = 0; i < 20; i++) await new Promise((r) => setImmediate(r));
    expect(stopped).toBe(false); // the writes in flight are waited for
    for (const w of writes) w();
    await stopping;
    expect(stopped).toBe(true);
  });
});
