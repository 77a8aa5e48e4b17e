import { randomUUID } from 'node:crypto';
import { ReceiveMessageCommand, SendMessageCommand } from '@aws-sdk/client-sqs';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from '@jest/globals';
import { pino } from 'pino';
import { z } from 'zod';
import { SqsQueue } from '../../../core/queue/sqs-queue.js';
import { RetryableError, type JobHandler } from '../../../processor/handler.js';
import { until } from '../../helpers/counting.js';
import { dbKinds, openTestDatabase, type TestDatabase } from '../../helpers/db.js';
import { EMULATOR_ENV, sqsEnv, startEmulator, type Emulator } from '../../helpers/fauxqs.js';
import { composeForTest } from '../../helpers/platform.js';

const logger = pino({ level: 'silent' });

/** Retries' delays and the dead letters' redrive on SQS (the real SDK against fauxqs). */
describe.each(dbKinds())('SqsQueue retries and redrive with %s', (kind) => {
  let t: TestDatabase;
  let emu: Emulator;
  let queue: SqsQueue;
  let urls: { url: string; dlqUrl: string };
  let seq = 0;
  const ownerId = randomUUID();

  beforeAll(async () => {
    [t, emu] = await Promise.all([openTestDatabase(kind), startEmulator()]);
  });
  afterAll(async () => {
    await emu?.stop();
    await t?.close();
  });
  beforeEach(async () => {
    await t.reset();
    await t.db.prisma.jobOutbox.deleteMany();
    await t.db.prisma.user.create({ data: { id: ownerId, name: 'owner' } });
    urls = await emu.createQueue(`retry-${++seq}`, { visibilityTimeout: 30 });
    queue = new SqsQueue({
      client: emu.sqs,
      queueUrl: urls.url,
      dlqUrl: urls.dlqUrl,
      prisma: t.db.prisma,
      logger,
      relay: { pollMs: 100 },
    });
  });
  afterEach(async () => {
    await queue.close();
  });

  async function newJob(type = 'noop', params: object = {}) {
    const id = randomUUID();
    await t.db.prisma.job.create({ data: { id, type, ownerId, params, maxAttempts: 3 } });
    return id;
  }

  const receive = async (url: string) =>
    (
      (
        await emu.sqs.send(
          new ReceiveMessageCommand({ QueueUrl: url, MaxNumberOfMessages: 10, WaitTimeSeconds: 0 }),
        )
      ).Messages ?? []
    ).map((m) => JSON.parse(m.Body!).jobId as string);

  it('a delayed send in a transaction waits in the outbox until due, then is published', async () => {
    const id = await newJob();
    // A delay long enough that the "not yet" check below holds on a loaded machine.
    const sent = Date.now(); // before the send: its delay starts inside it
    await t.db.prisma.$transaction((tx) => queue.send(id, tx, { delaySeconds: 4 }));
    queue.afterCommit();
    // A "nothing happens" check, so a pause is the point: the relay, woken by the commit, must
    // leave the row alone until it is due.
    await new Promise((r) => setTimeout(r, 600));
    expect(await receive(urls.url)).toEqual([]);
    expect(await t.db.prisma.jobOutbox.count()).toBe(1);
    const got = await until(
      'the delayed message',
      () => receive(urls.url),
      (m) => m.length > 0,
      60_000,
    );
    expect(got).toEqual([id]);
    expect(Date.now() - sent).toBeGreaterThanOrEqual(3_900);
  });

  it('a delayed send without a transaction uses DelaySeconds', async () => {
    const id = await newJob();
    const sent = Date.now(); // before the send: its delay starts inside it
    await queue.send(id, undefined, { delaySeconds: 3 });
    expect(await receive(urls.url)).toEqual([]);
    const got = await until(
      'the delayed message',
      () => receive(urls.url),
      (m) => m.length > 0,
      60_000,
    );
    expect(got).toEqual([id]);
    expect(Date.now() - sent).toBeGreaterThanOrEqual(2_900);
  });

  it('retries a retryable failure through SQS after its backoff, then completes', async () => {
    const runs = new Map<string, number>();
    const flaky: JobHandler<object> = {
      type: 'flaky',
      description: 'fails once, retryably',
      params: z.object({}),
      input: 'none',
      async run(ctx) {
        const n = (runs.get(ctx.jobId) ?? 0) + 1;
        runs.set(ctx.jobId, n);
        if (n === 1) throw new RetryableError('throttled');
        return { n };
      },
    };
    // The platform as `jobs worker` composes it on SQS (its own SqsQueue and outbox relay).
    Object.assign(process.env, EMULATOR_ENV); // the SDK's credentials
    const platform = await composeForTest(t, {
      env: sqsEnv(emu, urls),
      handlers: [flaky],
      config: { retryBaseMs: 1_000, retryMaxMs: 1_000 },
      timing: { receiveWaitMs: 1_000 },
    });
    const id = await newJob('flaky');
    await t.db.prisma.$transaction((tx) => platform.api.queue.send(id, tx));
    platform.api.queue.afterCommit?.();
    const worker = platform.startWorker({ concurrency: 1 });
    try {
      const job = await until(
        'the job to complete',
        () => t.db.prisma.job.findUniqueOrThrow({ where: { id } }),
        (j) => j.status === 'COMPLETED',
      );
      expect(job).toMatchObject({ status: 'COMPLETED', attempts: 2, result: { n: 2 } });
      const logs = await t.db.prisma.jobLog.findMany({ where: { jobId: id }, orderBy: { seq: 'asc' } });
      const retry = logs.find((l) => l.message.includes('retrying in'))!;
      expect(retry.message).toMatch(/^attempt 1 of 3 failed; retrying in (0\.[5-9]|1\.0) s: throttled$/);
      const second = logs.find((l) => l.message === 'attempt 2 of 3 started')!;
      expect(second.ts.getTime() - retry.ts.getTime()).toBeGreaterThanOrEqual(450);
    } finally {
      await worker.stop(1_000);
      await platform.dispose();
    }
  });

  it('redrive moves the DLQ back to the queue, dropping the messages of jobs requeued afresh', async () => {
    const [a, b, c] = [randomUUID(), randomUUID(), randomUUID()];
    for (const id of [a, b, c]) {
      await emu.sqs.send(
        new SendMessageCommand({ QueueUrl: urls.dlqUrl, MessageBody: JSON.stringify({ jobId: id }) }),
      );
    }
    expect((await queue.stats()).deadLetters).toBe(3);
    const res = await queue.redriveDeadLetters(new Set([b]));
    expect(res).toEqual({ moved: 2, dropped: 1 });
    const back: string[] = [];
    for (let i = 0; i < 5 && back.length < 2; i++) back.push(...(await receive(urls.url)));
    expect(back.sort()).toEqual([a, c].sort());
    expect((await queue.stats()).deadLetters).toBe(0);
    // Nothing left to redrive.
    expect(await queue.redriveDeadLetters(new Set())).toEqual({ moved: 0, dropped: 0 });
  });
});
