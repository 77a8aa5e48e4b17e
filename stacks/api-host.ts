import { IamInstanceProfile } from '@cdktf/provider-aws/lib/iam-instance-profile/index.js';
import { IamRole } from '@cdktf/provider-aws/lib/iam-role/index.js';
import { IamRolePolicy } from '@cdktf/provider-aws/lib/iam-role-policy/index.js';
import { Construct } from 'constructs';
import { assumeRolePolicy, policyDocument, type PolicyStatement } from './policy-document.js';
import { INPUT_PREFIX } from './storage.js';

export interface ApiHostRoleOptions {
  prefix: string;
  bucket: { arn: string; kmsKeyArn?: string };
  queue: { arn: string };
}

/**
 * The role (and EC2 instance profile) of the hosts running `jobs server`: they may store inputs
 * under the input prefix (including multipart uploads and their abort) and send job messages.
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
        // s3:PutObject also covers CreateMultipartUpload, UploadPart and CompleteMultipartUpload.
        Action: ['s3:PutObject', 's3:AbortMultipartUpload'],
        Resource: `${opts.bucket.arn}/${INPUT_PREFIX}*`,
      },
      {
        Sid: 'SendJobs',
        Effect: 'Allow',
        Action: 'sqs:SendMessage', // also authorizes SendMessageBatch (the outbox relay)
        Resource: opts.queue.arn,
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
