import { SqsQueue } from '@cdktf/provider-aws/lib/sqs-queue/index.js';
import { SqsQueuePolicy } from '@cdktf/provider-aws/lib/sqs-queue-policy/index.js';
import { SqsQueueRedriveAllowPolicy } from '@cdktf/provider-aws/lib/sqs-queue-redrive-allow-policy/index.js';
import { Construct } from 'constructs';
import { policyDocument } from './policy-document.js';

export interface JobQueueOptions {
  prefix: string;
  maxReceiveCount: number;
  visibilityTimeoutSeconds: number;
  messageRetentionSeconds?: number;
}

/**
 * The job queue, the priority queue (jobs with a priority above 0: core/queue/sqs-priority.ts)
 * and their dead-letter queue, all with SSE (SQS-managed keys: no KMS grants to
 * manage) and TLS-only policies. After `maxReceiveCount` deliveries a message moves to the DLQ,
 * which accepts messages from this queue only.
 */
export class JobQueue extends Construct {
  readonly queue: SqsQueue;
  /** Jobs with a priority above 0, so they never wait behind the queue's backlog. */
  readonly priorityQueue: SqsQueue;
  readonly dlq: SqsQueue;

  constructor(scope: Construct, id: string, opts: JobQueueOptions) {
    super(scope, id);
    const { prefix } = opts;
    this.dlq = new SqsQueue(this, 'dlq', {
      name: `${prefix}-jobs-dlq`,
      sqsManagedSseEnabled: true,
      messageRetentionSeconds: 14 * 24 * 3600, // the longest SQS allows: time to investigate
    });
    const jobQueue = (id: string, name: string, receiveWaitTimeSeconds: number) =>
      new SqsQueue(this, id, {
        name,
        sqsManagedSseEnabled: true,
        visibilityTimeoutSeconds: opts.visibilityTimeoutSeconds,
        messageRetentionSeconds: opts.messageRetentionSeconds ?? 4 * 24 * 3600,
        receiveWaitTimeSeconds,
        redrivePolicy: JSON.stringify({
          deadLetterTargetArn: this.dlq.arn,
          maxReceiveCount: opts.maxReceiveCount,
        }),
      });
    // Long polling for `jobs worker`; the Lambda event source polls on its own.
    this.queue = jobQueue('queue', `${prefix}-jobs`, 20);
    // `jobs worker` looks at it without waiting before each long poll of the queue.
    this.priorityQueue = jobQueue('priority-queue', `${prefix}-jobs-priority`, 0);
    new SqsQueueRedriveAllowPolicy(this, 'dlq-redrive-allow', {
      queueUrl: this.dlq.url,
      redriveAllowPolicy: JSON.stringify({
        redrivePermission: 'byQueue',
        sourceQueueArns: [this.queue.arn, this.priorityQueue.arn],
      }),
    });
    for (const [name, q] of [
      ['queue', this.queue],
      ['priority-queue', this.priorityQueue],
      ['dlq', this.dlq],
    ] as const) {
      new SqsQueuePolicy(this, `${name}-policy`, {
        queueUrl: q.url,
        policy: policyDocument([
          {
            Sid: 'DenyInsecureTransport',
            Effect: 'Deny',
            Principal: '*',
            Action: 'sqs:*', // a Deny: every request without TLS is refused
            Resource: q.arn,
            Condition: { Bool: { 'aws:SecureTransport': 'false' } },
          },
        ]),
      });
    }
  }
}
