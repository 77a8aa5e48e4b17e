import { ReceiveMessageCommand, SendMessageCommand } from '@aws-sdk/client-sqs';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { changeMessageVisibility } from '../../../core/aws/change-message-visibility.js';
import { EMULATOR_ENV, startEmulator, type Emulator } from '../../helpers/fauxqs.js';

/** The signed ChangeMessageVisibility against SQS's API as fauxqs serves it over HTTP. */
describe('changeMessageVisibility', () => {
  let emu: Emulator;
  let queueUrl: string;

  beforeAll(async () => {
    emu = await startEmulator();
    queueUrl = (await emu.createQueue('visibility')).url;
  });
  afterAll(async () => {
    await emu?.stop();
  });

  const receive = async (visibility: number) =>
    (
      await emu.sqs.send(
        new ReceiveMessageCommand({
          QueueUrl: queueUrl,
          MaxNumberOfMessages: 1,
          VisibilityTimeout: visibility,
        }),
      )
    ).Messages ?? [];
  const change = (receiptHandle: string, seconds: number, env: NodeJS.ProcessEnv = EMULATOR_ENV) =>
    changeMessageVisibility({ queueUrl, receiptHandle, seconds, endpoint: emu.endpoint, env });

  it('changes a delivery’s visibility with one signed request', async () => {
    await emu.sqs.send(new SendMessageCommand({ QueueUrl: queueUrl, MessageBody: 'm1' }));
    const [first] = await receive(600);
    expect(await receive(600)).toEqual([]); // hidden for 600 s
    // 0 s: visible again at once, so the next receive gets it (no waiting on a clock).
    expect(await change(first!.ReceiptHandle!, 0)).toBe(true);
    const [again] = await receive(600);
    expect(again?.MessageId).toBe(first!.MessageId);
    // And extended (the Lambda's use): still hidden.
    expect(await change(again!.ReceiptHandle!, 900)).toBe(true);
    expect(await receive(600)).toEqual([]);
  });

  it('takes a stale receipt as done, as SqsQueue.changeVisibility does', async () => {
    await emu.sqs.send(new SendMessageCommand({ QueueUrl: queueUrl, MessageBody: 'm2' }));
    const [m] = await receive(600);
    expect(await change(m!.ReceiptHandle!, 0)).toBe(true);
    await receive(600); // received again: the first receipt is stale now
    await expect(change(m!.ReceiptHandle!, 30)).resolves.toBe(true);
  });

  it('fails with the error SQS answered for a queue that does not exist', async () => {
    await expect(
      changeMessageVisibility({
        queueUrl: `${emu.endpoint}/000000000000/no-such-queue`,
        receiptHandle: 'r',
        seconds: 30,
        endpoint: emu.endpoint,
        env: EMULATOR_ENV,
      }),
    ).rejects.toMatchObject({ name: expect.stringMatching(/NonExistentQueue|QueueDoesNotExist/) });
  });

  it('leaves the call to the SDK without credentials in the environment', async () => {
    expect(await change('r', 30, { AWS_REGION: 'us-east-1' })).toBe(false);
  });
});
