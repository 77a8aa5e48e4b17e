import { IamInstanceProfile } from '@cdktf/provider-aws/lib/iam-instance-profile/index.js';
import { IamRole } from '@cdktf/provider-aws/lib/iam-role/index.js';
import { IamRolePolicy } from '@cdktf/provider-aws/lib/iam-role-policy/index.js';
import { Construct } from 'constructs';
import { assumeRolePolicy, policyDocument, type PolicyStatement } from './policy-document.js';
import { INPUT_PREFIX, OUTPUT_PREFIX } from './storage.js';

export interface ApiHostRoleOptions {
  prefix: string;
  bucket: { arn: string; kmsKeyArn?: string };
  queue: { arn: string };
  priorityQueue: { arn: string };
  dlq: { arn: string };
}

/**
 * The role (and EC2 instance profile) of the hosts running `jobs server`: exactly the calls the
 * server makes. It stores inputs under the input prefix (multipart uploads and their abort),
 * checks and deletes them (a refused or duplicate upload leaves nothing behind), and sends job
 * messages; for `/readyz`, `/metrics` and `jobs dlq` it reads queue attributes and drains the
 * dead-letter queue. It never reads an input's content for a job (the Lambda does).
 * The hosts themselves are not part of this stack; attach the instance profile to them.
 */
export class ApiHostRole extends Construct {
  readonly role: IamRole;
  readonly instanceProfile: IamInstanceProfile;

  constructor(scope: Construct, id: string, opts: ApiHostRoleOptions) {
    super(scope, id);
    const name = `${opts.prefix}-api-host`;
    this.role = new IamRole(this, 'role', {
      name,
      assumeRolePolicy: assumeRolePolicy('ec2.amazonaws.com'),
    });
    const statements: PolicyStatement[] = [
      {
        Sid: 'StoreInputs',
        Effect: 'Allow',
        Action: [
          // Also covers CreateMultipartUpload, UploadPart and CompleteMultipartUpload.
          's3:PutObject',
          's3:AbortMultipartUpload',
          // HeadObject (a direct upload's completion check) and CopyObject's source (the
          // checksum copy) are authorized by GetObject.
          's3:GetObject',
          // A refused, oversized or duplicate upload is removed: nothing is left behind.
          's3:DeleteObject',
        ],
        Resource: `${opts.bucket.arn}/${INPUT_PREFIX}*`,
      },
      {
        // Downloads are presigned GETs (signed with this role, so it needs GetObject); retention
        // (`POST /api/prune`) deletes outputs with their jobs.
        Sid: 'ServeOutputs',
        Effect: 'Allow',
        Action: ['s3:GetObject', 's3:DeleteObject'],
        Resource: `${opts.bucket.arn}/${OUTPUT_PREFIX}*`,
      },
      {
        Sid: 'CheckBucket',
        Effect: 'Allow',
        // HeadBucket (the readiness probe) is authorized by ListBucket, on the bucket itself.
        Action: 's3:ListBucket',
        Resource: opts.bucket.arn,
      },
      {
        Sid: 'SendJobs',
        Effect: 'Allow',
        // SendMessage also authorizes SendMessageBatch (the outbox relay); the attributes feed
        // /metrics (queue depth) and `jobs dlq list`.
        Action: ['sqs:SendMessage', 'sqs:GetQueueAttributes'],
        Resource: [opts.queue.arn, opts.priorityQueue.arn],
      },
      {
        Sid: 'RedriveDeadLetters',
        Effect: 'Allow',
        // `jobs dlq redrive`: receive from the DLQ, send back to the queue (above), delete.
        Action: ['sqs:ReceiveMessage', 'sqs:DeleteMessage', 'sqs:GetQueueAttributes'],
        Resource: opts.dlq.arn,
      },
    ];
    if (opts.bucket.kmsKeyArn) {
      statements.push({
        Sid: 'EncryptInputs',
        Effect: 'Allow',
        // SSE-KMS writes need a data key; multipart uploads also decrypt it for each part.
        Action: ['kms:GenerateDataKey', 'kms:Decrypt'],
        Resource: opts.bucket.kmsKeyArn,
      });
    }
    new IamRolePolicy(this, 'policy', {
      name: `${name}-least-privilege`,
      role: this.role.id,
      policy: policyDocument(statements),
    });
    this.instanceProfile = new IamInstanceProfile(this, 'profile', { name, role: this.role.name });
  }
}
