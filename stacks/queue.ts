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
 * The job queue and its dead-letter queue, both with SSE (SQS-managed keys: no KMS grants to
 * manage) and TLS-only policies. After `maxReceiveCount` deliveries a message moves to the DLQ,
 * which accepts messages from this queue only.
 */
export class JobQueue extends Construct {
  readonly queue: SqsQueue;
  readonly dlq: SqsQueue;

  constructor(scope: Construct, id: string, opts: JobQueueOptions) {
    super(scope, id);
    const { prefix } = opts;
    this.dlq = new SqsQueue(this, 'dlq', {
      name: `${prefix}-jobs-dlq`,
      sqsManagedSseEnabled: true,
      messageRetentionSeconds: 14 * 24 * 3600, // the longest SQS allows: time to investigate
    });
    this.queue = new SqsQueue(this, 'queue', {
      name: `${prefix}-jobs`,
      sqsManagedSseEnabled: true,
      visibilityTimeoutSeconds: opts.visibilityTimeoutSeconds,
      messageRetentionSeconds: opts.messageRetentionSeconds ?? 4 * 24 * 3600,
      // Long polling for `jobs worker`; the Lambda event source polls on its own.
      receiveWaitTimeSeconds: 20,
      redrivePolicy: JSON.stringify({
        deadLetterTargetArn: this.dlq.arn,
        maxReceiveCount: opts.maxReceiveCount,
      }),
    });
    new SqsQueueRedriveAllowPolicy(this, 'dlq-redrive-allow', {
      queueUrl: this.dlq.url,
      redriveAllowPolicy: JSON.stringify({
        redrivePermission: 'byQueue',
        sourceQueueArns: [this.queue.arn],
      }),
    });
    for (const [name, q] of [
      ['queue', this.queue],
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
