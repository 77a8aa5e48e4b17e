import { CreateBucketCommand, S3Client } from '@aws-sdk/client-s3';
import { CreateQueueCommand, GetQueueAttributesCommand, SQSClient } from '@aws-sdk/client-sqs';
import { buildApp } from 'fauxqs';

/** Dummy credentials: the emulator accepts any. */
export const EMULATOR_ENV = {
  AWS_REGION: 'us-east-1',
  AWS_ACCESS_KEY_ID: 'test',
  AWS_SECRET_ACCESS_KEY: 'test',
};

/**
 * The environment that points jobs at an emulator's queue and its dead-letter queue (credentials
 * included), as a deployment sets it; with `noop` enabled (off by default on SQS), as the tests
 * use it.
 */
export function sqsEnv(emu: Emulator, queue: { url: string; dlqUrl: string }): Record<string, string> {
  return {
    ...EMULATOR_ENV,
    JOBS_SQS_QUEUE_URL: queue.url,
    JOBS_SQS_DLQ_URL: queue.dlqUrl,
    JOBS_SQS_ENDPOINT: emu.endpoint,
    JOBS_ENABLE_NOOP: 'true',
  };
}

export interface Emulator {
  endpoint: string;
  port: number;
  s3: S3Client;
  sqs: SQSClient;
  createBucket(name: string): Promise<string>;
  /** A queue with a dead-letter queue after `maxReceiveCount` receives. */
  createQueue(
    name: string,
    opts?: { maxReceiveCount?: number; visibilityTimeout?: number },
  ): Promise<{ url: string; dlqUrl: string }>;
  stop(): Promise<void>;
}

/**
 * fauxqs (S3 + SQS over real HTTP) bound to loopback on a free port; its startFauxqs() would
 * listen on every interface. State is in memory: each suite gets its own emulator.
 */
export async function startEmulator(opts: { port?: number } = {}): Promise<Emulator> {
  const app = buildApp({ logger: false });
  // A fixed port lets a test stop the emulator and start a new one at the same URLs (an outage).
  await app.listen({ port: opts.port ?? 0, host: '127.0.0.1' });
  const { port } = app.server.address() as { port: number };
  const endpoint = `http://127.0.0.1:${port}`;
  const credentials = { accessKeyId: 'test', secretAccessKey: 'test' };
  const s3 = new S3Client({ region: 'us-east-1', endpoint, forcePathStyle: true, credentials });
  const sqs = new SQSClient({ region: 'us-east-1', endpoint, credentials });
  return {
    endpoint,
    port,
    s3,
    sqs,
    async createBucket(name) {
      await s3.send(new CreateBucketCommand({ Bucket: name }));
      return name;
    },
    async createQueue(name, opts = {}) {
      const dlq = await sqs.send(new CreateQueueCommand({ QueueName: `${name}-dlq` }));
      const attrs = await sqs.send(
        new GetQueueAttributesCommand({ QueueUrl: dlq.QueueUrl!, AttributeNames: ['QueueArn'] }),
      );
      const queue = await sqs.send(
        new CreateQueueCommand({
          QueueName: name,
          Attributes: {
            VisibilityTimeout: String(opts.visibilityTimeout ?? 30),
            RedrivePolicy: JSON.stringify({
              deadLetterTargetArn: attrs.Attributes!.QueueArn,
              maxReceiveCount: opts.maxReceiveCount ?? 5,
            }),
          },
        }),
      );
      return { url: queue.QueueUrl!, dlqUrl: dlq.QueueUrl! };
    },
    async stop() {
      s3.destroy();
      sqs.destroy();
      await app.close();
    },
  };
}
