import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, beforeEach, describe, expect, it, jest } from '@jest/globals';
import { SendMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import { startFauxqs, type FauxqsServer } from 'fauxqs';
import { pino } from 'pino';
import { OutboxRelay, type OutboxLogger } from '../../../core/queue/outbox.js';
import { SqsQueue } from '../../../core/queue/sqs-queue.js';
import { PRIORITY_RECEIPT_PREFIX, receiptOfRecord } from '../../../core/queue/sqs-priority.js';
import { dbKinds, openTestDatabase, type TestDatabase } from '../../helpers/db.js';
import { describeJobQueue, receiveN } from './job-queue-contract.js';

const silent: OutboxLogger = pino({ level: 'silent' });

function sqsClient(server: FauxqsServer, maxAttempts = 3): SQSClient {
  return new SQSClient({
    endpoint: server.address,
    region: 'us-east-1',
    credentials: { accessKeyId: 'test', secretAccessKey: 'test' },
    maxAttempts,
  });
}

let queueSeq = 0;

/** A queue and its dead-letter queue (maxReceiveCount 3), as the deployment creates them. */
function createQueues(server: FauxqsServer, visibilityTimeoutSeconds = 30, name = `jobs-${++queueSeq}`) {
  const dlq = server.createQueue(`${name}-dlq`);
  const main = server.createQueue(name, {
    attributes: {
      VisibilityTimeout: String(visibilityTimeoutSeconds),
      RedrivePolicy: JSON.stringify({ deadLetterTargetArn: dlq.queueArn, maxReceiveCount: 3 }),
    },
  });
  return { queueUrl: main.queueUrl, dlqUrl: dlq.queueUrl };
}

/** Polls `check` until it holds or the deadline passes (no fixed sleeps as synchronisation). */
async function eventually(check: () => Promise<boolean>, ms = 60_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 25));
  }
}

describe.each(dbKinds())('SqsQueue (fauxqs) with %s', (kind) => {
  let t: TestDatabase;
  let server: FauxqsServer;
  let client: SQSClient;
  const ownerId = randomUUID();

  beforeAll(async () => {
    [t, server] = await Promise.all([openTestDatabase(kind), startFauxqs({ port: 0, logger: false })]);
    client = sqsClient(server);
  });
  afterAll(async () => {
    client?.destroy();
    await server?.stop();
    await t?.close();
  });

  describeJobQueue(`SqsQueue on fauxqs with ${kind}`, () => ({
    open: async () => t.db,
    reset: () => t.reset(),
    create: async ({ visibilityTimeoutSeconds }) => {
      const queue = new SqsQueue({
        client,
        ...createQueues(server, visibilityTimeoutSeconds),
        prisma: t.db.prisma,
        logger: silent,
        // Only afterCommit() (a kick) can publish within the tests' patience (their deadlines).
        relay: { pollMs: 600_000 },
      });
      return { queue, afterCommit: () => queue.afterCommit() };
    },
    close: async () => {},
  }));

  describe('SQS specifics', () => {
    const closers: (() => Promise<void>)[] = [];

    beforeEach(async () => {
      while (closers.length) await closers.pop()!();
      await t.reset();
      await t.db.prisma.user.create({ data: { id: ownerId, name: 'owner' } });
    });
    afterAll(async () => {
      while (closers.length) await closers.pop()!();
    });

    async function newJob(): Promise<string> {
      const id = randomUUID();
      await t.db.prisma.job.create({ data: { id, type: 'noop', ownerId } });
      return id;
    }

    const outboxCount = () => t.db.prisma.jobOutbox.count();

    it('keeps sends in the outbox through an SQS outage and publishes each once afterwards', async () => {
      const own = await startFauxqs({ port: 0, logger: false });
      const port = own.port;
      const urls = createQueues(own, 30, 'outage');
      const ownClient = sqsClient(own, 1);
      const queue = new SqsQueue({
        client: ownClient,
        ...urls,
        prisma: t.db.prisma,
        logger: silent,
        relay: { pollMs: 50, backoffBaseMs: 20, backoffMaxMs: 100 },
      });
      const restarted: { server?: FauxqsServer } = {};
      closers.push(async () => {
        await queue.close();
        ownClient.destroy();
        await restarted.server?.stop();
      });
      await own.stop();

      // Created in a transaction while SQS is down: the job commits, the message waits.
      const inTx = randomUUID();
      await t.db.prisma.$transaction(async (tx) => {
        await tx.job.create({ data: { id: inTx, type: 'noop', ownerId } });
        await queue.send(inTx, tx);
      });
      queue.afterCommit();
      // Sent directly while SQS is down: no throw, it falls back to the outbox.
      const direct = await newJob();
      await expect(queue.send(direct)).resolves.toBeUndefined();

      await eventually(async () => {
        const rows = await t.db.prisma.jobOutbox.findMany();
        return rows.length === 2 && rows.every((r) => r.attempts >= 1 && r.lastError !== null);
      });
      expect(await t.db.prisma.job.count({ where: { id: { in: [inTx, direct] } } })).toBe(2);
      expect((await queue.stats().catch(() => undefined)) ?? 'SQS down').toBe('SQS down');

      restarted.server = await startFauxqs({ port, logger: false });
      expect(createQueues(restarted.server, 30, 'outage')).toEqual(urls);
      queue.afterCommit();
      await eventually(async () => (await outboxCount()) === 0);

      const got = await receiveN(queue, 2);
      expect(got.map((m) => m.jobId).sort()).toEqual([inTx, direct].sort());
      expect(await queue.receive({ max: 10, waitMs: 0 })).toEqual([]);
    });

    it('lets two relays drain one outbox concurrently, publishing each row once', async () => {
      const queue = new SqsQueue({
        client,
        ...createQueues(server),
        prisma: t.db.prisma,
        logger: silent,
        relay: false,
      });
      closers.push(() => queue.close());
      const ids = await Promise.all(Array.from({ length: 30 }, () => newJob()));
      await t.db.prisma.$transaction(async (tx) => {
        for (const id of ids) await queue.send(id, tx);
      });
      expect(await outboxCount()).toBe(30);
      expect((await queue.stats()).waiting).toBe(30);

      const published: string[] = [];
      const relays = [0, 1].map(
        () =>
          new OutboxRelay({
            prisma: t.db.prisma,
            publish: async (jobIds) => {
              const ok = await queue.publish(jobIds);
              published.push(...ok);
              return ok;
            },
            logger: silent,
            batchSize: 4,
          }),
      );
      const drain = async (r: OutboxRelay) => {
        while ((await r.relayOnce()).claimed > 0);
      };
      await Promise.all(relays.map(drain));

      expect(await outboxCount()).toBe(0);
      expect(published.sort()).toEqual([...ids].sort());
      const got = await receiveN(queue, 30);
      expect(got.map((m) => m.jobId).sort()).toEqual([...ids].sort());
      expect(await queue.receive({ max: 10, waitMs: 0 })).toEqual([]);
    });

    it('deletes malformed messages with a warning and delivers the rest', async () => {
      const warn = jest.fn();
      const logger = { warn, error: jest.fn(), debug: jest.fn() } as unknown as OutboxLogger;
      const urls = createQueues(server);
      const queue = new SqsQueue({ client, ...urls, logger });
      closers.push(() => queue.close());
      const jobId = randomUUID();
      for (const body of [
        'not json',
        '{"jobId":5}',
        '{"jobId":"../../etc"}',
        'null',
        JSON.stringify({ jobId }),
      ]) {
        await client.send(new SendMessageCommand({ QueueUrl: urls.queueUrl, MessageBody: body }));
      }
      const got = await receiveN(queue, 1);
      expect(got.map((m) => m.jobId)).toEqual([jobId]);
      await eventually(async () => {
        await queue.receive({ max: 10, waitMs: 0 });
        return warn.mock.calls.length === 4;
      });
      expect(await queue.stats()).toMatchObject({ waiting: 0, inFlight: 1, deadLetters: 0 });
    });

    it('refuses a send in a transaction without the database, and propagates real SQS errors', async () => {
      const queue = new SqsQueue({
        client,
        queueUrl: `${server.address}/000000000000/missing`,
        logger: silent,
      });
      const jobId = await newJob();
      await expect(t.db.prisma.$transaction((tx) => queue.send(jobId, tx))).rejects.toThrow(
        /needs the database/,
      );
      await expect(queue.send(jobId)).rejects.toThrow();
      await expect(queue.delete('whatever')).rejects.toThrow();
    });

    it('sends jobs with a priority above 0 to the priority queue, receives it first, and routes its receipts', async () => {
      const urls = createQueues(server);
      const urgentQueue = server.createQueue(`jobs-${++queueSeq}-priority`);
      const queue = new SqsQueue({
        client,
        ...urls,
        priorityQueueUrl: urgentQueue.queueUrl,
        prisma: t.db.prisma,
        logger: silent,
        relay: { pollMs: 600_000 },
      });
      closers.push(() => queue.close());
      const plain = await newJob();
      const urgent = randomUUID();
      await t.db.prisma.job.create({ data: { id: urgent, type: 'noop', ownerId, priority: 5 } });
      const low = randomUUID();
      await t.db.prisma.job.create({ data: { id: low, type: 'noop', ownerId, priority: -5 } });
      await t.db.prisma.$transaction((tx) => queue.sendMany([plain, urgent, low], tx));
      queue.afterCommit();
      await eventually(async () => (await outboxCount()) === 0);
      expect(await queue.stats()).toMatchObject({ waiting: 3, inFlight: 0 });

      // The priority queue is looked at first, whatever was sent before it.
      const [first] = await queue.receive({ max: 10, waitMs: 1000 });
      expect(first.jobId).toBe(urgent);
      expect(first.receiptHandle.startsWith(PRIORITY_RECEIPT_PREFIX)).toBe(true);
      // Its receipt works with its own queue: hidden longer, then deleted there.
      await queue.changeVisibility(first.receiptHandle, 60);
      await queue.delete(first.receiptHandle);
      expect(await queue.stats()).toMatchObject({ waiting: 2, inFlight: 0 });
      const rest = await receiveN(queue, 2);
      expect(rest.map((m) => m.jobId).sort()).toEqual([plain, low].sort());
      expect(rest.every((m) => !m.receiptHandle.startsWith(PRIORITY_RECEIPT_PREFIX))).toBe(true);
      for (const m of rest) await queue.delete(m.receiptHandle);
      expect(await queue.stats()).toMatchObject({ waiting: 0, inFlight: 0 });
    });

    it("marks a Lambda record's receipt by the queue its event source names", () => {
      const url = 'https://sqs.eu-west-1.amazonaws.com/123456789012/prod-jobs-priority';
      const from = (arn: string) => receiptOfRecord({ receiptHandle: 'r', eventSourceARN: arn }, url);
      expect(from('arn:aws:sqs:eu-west-1:123456789012:prod-jobs-priority')).toBe(
        `${PRIORITY_RECEIPT_PREFIX}r`,
      );
      expect(from('arn:aws:sqs:eu-west-1:123456789012:prod-jobs')).toBe('r');
      expect(
        receiptOfRecord(
          { receiptHandle: 'r', eventSourceARN: 'arn:aws:sqs:x:1:prod-jobs-priority' },
          undefined,
        ),
      ).toBe('r');
    });
  });
});
