import { randomUUID } from 'node:crypto';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from '@jest/globals';
import { SQSClient } from '@aws-sdk/client-sqs';
import { startFauxqs, type FauxqsServer } from 'fauxqs';
import { pino } from 'pino';
import { claimJob } from '../../../core/jobs/store/claim.js';
import { OUTBOX_CHANNEL, OutboxRelay, type OutboxLogger } from '../../../core/queue/outbox.js';
import { SqsQueue } from '../../../core/queue/sqs-queue.js';
import { PRIORITY_RECEIPT_PREFIX } from '../../../core/queue/sqs-priority.js';
import { dbKinds, openTestDatabase, type TestDatabase } from '../../helpers/db.js';
import { receiveN } from './job-queue-contract.js';

/**
 * Fair sharing between owners on SQS (issue 15): the outbox relay keeps at most a window of each
 * owner's messages sent and not yet started, and sends round the owners (core/queue/outbox.ts).
 * Real PostgreSQL / PGlite, real SDK calls against fauxqs; the relay is driven round by round
 * (`relayOnce`), so every step is an event, not a wait.
 */

const silent: OutboxLogger = pino({ level: 'silent' });

let queueSeq = 0;

describe.each(dbKinds())('fair dispatch on SQS (fauxqs) with %s', (kind) => {
  let t: TestDatabase;
  let server: FauxqsServer;
  let client: SQSClient;
  const alice = randomUUID();
  const bob = randomUUID();
  const closers: (() => Promise<void>)[] = [];

  beforeAll(async () => {
    [t, server] = await Promise.all([openTestDatabase(kind), startFauxqs({ port: 0, logger: false })]);
    client = new SQSClient({
      endpoint: server.address,
      region: 'us-east-1',
      credentials: { accessKeyId: 'test', secretAccessKey: 'test' },
    });
  });
  beforeEach(async () => {
    await t.reset();
    await t.db.prisma.user.createMany({
      data: [
        { id: alice, name: 'alice' },
        { id: bob, name: 'bob' },
      ],
    });
  });
  afterEach(async () => {
    while (closers.length) await closers.pop()!();
  });
  afterAll(async () => {
    client?.destroy();
    await server?.stop();
    await t?.close();
  });

  /** A queue (with a priority queue) whose relay runs only when the test says so. */
  function newQueue() {
    const name = `fair-${++queueSeq}`;
    const dlq = server.createQueue(`${name}-dlq`);
    const main = server.createQueue(name, {
      attributes: {
        RedrivePolicy: JSON.stringify({ deadLetterTargetArn: dlq.queueArn, maxReceiveCount: 3 }),
      },
    });
    const urgent = server.createQueue(`${name}-priority`);
    const queue = new SqsQueue({
      client,
      queueUrl: main.queueUrl,
      priorityQueueUrl: urgent.queueUrl,
      dlqUrl: dlq.queueUrl,
      prisma: t.db.prisma,
      logger: silent,
      relay: false,
    });
    closers.push(() => queue.close());
    return queue;
  }

  function relay(queue: SqsQueue, opts: { window: number; batchSize?: number }) {
    const sent: string[][] = [];
    const r = new OutboxRelay({
      prisma: t.db.prisma,
      publish: async (ids, urgent) => {
        const ok = await queue.publish(ids, urgent);
        sent.push(ok);
        return ok;
      },
      logger: silent,
      ...opts,
    });
    /** Runs rounds until one claims nothing; the ids sent, round by round. */
    const drain = async () => {
      sent.length = 0;
      while ((await r.relayOnce()).claimed > 0);
      return sent.slice();
    };
    return { relay: r, drain };
  }

  /** Creates `n` jobs of `owner` (oldest first) and queues them through the outbox, in one transaction. */
  async function submit(
    queue: SqsQueue,
    owner: string,
    n: number,
    opts: { priority?: number; delaySeconds?: number } = {},
  ): Promise<string[]> {
    const ids = Array.from({ length: n }, () => randomUUID());
    await t.db.prisma.$transaction(async (tx) => {
      for (const id of ids)
        await tx.job.create({ data: { id, type: 'noop', ownerId: owner, priority: opts.priority ?? 0 } });
      await queue.sendMany(ids, tx, { delaySeconds: opts.delaySeconds });
    });
    return ids;
  }

  const outboxOf = async (owner: string) =>
    t.db.prisma.jobOutbox.count({ where: { job: { ownerId: owner } } });

  it("keeps an owner's backlog in the outbox beyond the window, and sends another owner's job at once", async () => {
    const queue = newQueue();
    const { drain } = relay(queue, { window: 3 });
    const a = await submit(queue, alice, 30);
    const b = await submit(queue, bob, 1);
    const sent = (await drain()).flat();
    // Alice's three oldest and Bob's one; the other 27 wait in the outbox.
    expect(sent.sort()).toEqual([...a.slice(0, 3), ...b].sort());
    expect([await outboxOf(alice), await outboxOf(bob)]).toEqual([27, 0]);
    // The metric's "waiting" counts both what is in SQS and what the outbox holds back.
    expect((await queue.stats()).waiting).toBe(31);
    // Nothing started, nothing more to send.
    expect(await drain()).toEqual([]);

    // Each claim frees one place in Alice's window: exactly one more of hers is sent, the next oldest.
    const got = await receiveN(queue, 4);
    expect(got.map((m) => m.jobId).sort()).toEqual(sent.sort());
    await claimJob(t.db.prisma, a[0], randomUUID(), 60);
    expect((await drain()).flat()).toEqual([a[3]]);
    await claimJob(t.db.prisma, a[1], randomUUID(), 60);
    await claimJob(t.db.prisma, a[2], randomUUID(), 60);
    expect((await drain()).flat().sort()).toEqual([a[4], a[5]].sort());
    expect(await outboxOf(alice)).toBe(24);
  });

  it('sends the owner with the fewest jobs sent or running first, whatever the age of the rows', async () => {
    const queue = newQueue();
    const { drain } = relay(queue, { window: 5, batchSize: 2 });
    const a = await submit(queue, alice, 10);
    const b = await submit(queue, bob, 1);
    // Two rows a round: Alice's oldest and Bob's one share the first turn (Alice's row is older).
    const rounds = await drain();
    expect([...rounds[0]].sort()).toEqual([a[0], b[0]].sort());
    expect(rounds.flat().sort()).toEqual([...a.slice(0, 5), b[0]].sort());

    // Alice has jobs running and Bob none: Bob's new job goes before Alice's, however old hers are.
    for (const id of a.slice(0, 5)) await claimJob(t.db.prisma, id, randomUUID(), 60);
    const b2 = await submit(queue, bob, 1);
    expect([...(await drain())[0]].sort()).toEqual([b2[0], a[5]].sort());
  });

  it("orders an owner's own line by priority, still sends priorities above 0 to the priority queue, and holds delayed jobs", async () => {
    const queue = newQueue();
    const { drain } = relay(queue, { window: 2 });
    const later = await submit(queue, alice, 1, { delaySeconds: 3600 });
    const plain = await submit(queue, alice, 3);
    const urgent = await submit(queue, alice, 1, { priority: 5 });
    const sent = (await drain()).flat();
    expect(sent.sort()).toEqual([urgent[0], plain[0]].sort());
    const [first] = await queue.receive({ max: 10, waitMs: 1000 });
    expect([first.jobId, first.receiptHandle.startsWith(PRIORITY_RECEIPT_PREFIX)]).toEqual([urgent[0], true]);
    // The delayed job is not sent however much room there is, until it is due.
    for (const id of sent) await claimJob(t.db.prisma, id, randomUUID(), 60);
    expect((await drain()).flat().sort()).toEqual(plain.slice(1).sort());
    for (const id of plain.slice(1)) await claimJob(t.db.prisma, id, randomUUID(), 60);
    expect(await drain()).toEqual([]);
    expect(await t.db.prisma.jobOutbox.findMany({ select: { jobId: true } })).toEqual([{ jobId: later[0] }]);
  });

  it('stops counting a message whose job never starts (lost from SQS) once it expires, and a put-off job at once', async () => {
    const queue = newQueue();
    const { drain } = relay(queue, { window: 2 });
    const a = await submit(queue, alice, 6);
    expect((await drain()).flat()).toEqual(a.slice(0, 2));
    // Both messages are lost (deleted, as a mistaken purge or a redrive's drop would): their jobs
    // stay PENDING. Until the expiry they hold Alice's window…
    for (const m of await receiveN(queue, 2)) await queue.delete(m.receiptHandle);
    expect(await drain()).toEqual([]);
    // … and once it has passed (moved back in time here: DISPATCH_EXPIRY_MS is minutes) they no
    // longer count, so her next ones are sent (the lost jobs themselves wait for the reaper or a
    // resend, as before).
    await t.db.prisma.job.updateMany({
      where: { id: { in: a.slice(0, 2) } },
      data: { dispatchedAt: new Date(Date.now() - 60 * 60_000) },
    });
    expect((await drain()).flat().sort()).toEqual(a.slice(2, 4).sort());

    // A job put off (over a concurrency limit: a fresh outbox row, the job still PENDING) no
    // longer counts as sent: its place goes to the next one at once.
    await t.db.prisma.$transaction((tx) => queue.send(a[2], tx, { delaySeconds: 5 }));
    expect((await drain()).flat()).toEqual([a[4]]);
  });

  it('wakes on a claim in another process: the claim of a PENDING job NOTIFYs the relays', async () => {
    const notified: string[] = [];
    const stop = await t.db.listen(OUTBOX_CHANNEL, (p) => notified.push(p));
    closers.push(stop);
    const queue = newQueue();
    const { drain } = relay(queue, { window: 2 });
    const [first, second] = await submit(queue, alice, 2);
    await drain();
    const heard = async (n: number) => {
      // Delivered on commit, on the listening connection: wait for it as the relay does.
      while (notified.length < n) await new Promise((r) => setTimeout(r, 10));
    };
    await claimJob(t.db.prisma, first, randomUUID(), 60);
    await heard(1);
    // A second claim of a held job (a duplicate delivery) frees nothing and says nothing: the next
    // notification heard is the next PENDING claim's (notifications arrive in commit order).
    expect(await claimJob(t.db.prisma, first, randomUUID(), 60)).toBeUndefined();
    await claimJob(t.db.prisma, second, randomUUID(), 60);
    await heard(2);
    expect(notified).toEqual(['', '']);
  });
});
