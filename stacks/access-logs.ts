import { S3Bucket } from '@cdktf/provider-aws/lib/s3-bucket/index.js';
import { S3BucketLifecycleConfiguration } from '@cdktf/provider-aws/lib/s3-bucket-lifecycle-configuration/index.js';
import { S3BucketLoggingA } from '@cdktf/provider-aws/lib/s3-bucket-logging/index.js';
import { S3BucketPolicy } from '@cdktf/provider-aws/lib/s3-bucket-policy/index.js';
import { S3BucketServerSideEncryptionConfigurationA } from '@cdktf/provider-aws/lib/s3-bucket-server-side-encryption-configuration/index.js';
import { Construct } from 'constructs';
import { policyDocument } from './policy-document.js';
import { lockDownBucket } from './private-bucket.js';

export interface AccessLogBucketOptions {
  prefix: string;
  account: string;
  /** The bucket whose requests are logged here. */
  source: { id: string; arn: string };
  /** Days logs are kept (default 90). */
  retentionDays?: number;
  forceDestroy?: boolean;
}

/** Key prefix of the input bucket's logs in the log bucket. */
export const ACCESS_LOG_PREFIX = 'inputs-bucket/';

/**
 * S3 server access logs of the input bucket (who read, wrote or deleted which input, from where),
 * in a bucket of their own: never public, TLS only, encrypted with S3-managed keys (the only
 * encryption S3 log delivery supports), logs expiring after `retentionDays`. The S3 logging
 * service may write under the input bucket's prefix, for that bucket of this account only.
 * It does not log itself: its own logs would be written to itself, without end.
 */
export class AccessLogBucket extends Construct {
  readonly bucket: S3Bucket;

  constructor(scope: Construct, id: string, opts: AccessLogBucketOptions) {
    super(scope, id);
    const { prefix } = opts;
    this.bucket = new S3Bucket(this, 'bucket', {
      bucketPrefix: `${prefix}-access-logs-`,
      forceDestroy: opts.forceDestroy ?? false,
    });
    const bucket = this.bucket.id;
    new S3BucketServerSideEncryptionConfigurationA(this, 'encryption', {
      bucket,
      rule: [{ applyServerSideEncryptionByDefault: { sseAlgorithm: 'AES256' }, bucketKeyEnabled: true }],
    });
    // Owner-enforced: log delivery is granted by the bucket policy below, not by ACLs.
    const publicAccessBlock = lockDownBucket(this, bucket);
    new S3BucketLifecycleConfiguration(this, 'lifecycle', {
      bucket,
      rule: [
        {
          id: 'expire-logs',
          status: 'Enabled',
          filter: [{ prefix: '' }],
          expiration: [{ days: opts.retentionDays ?? 90 }],
          abortIncompleteMultipartUpload: [{ daysAfterInitiation: 1 }],
        },
      ],
    });
    const policy = new S3BucketPolicy(this, 'policy', {
      bucket,
      policy: policyDocument([
        {
          Sid: 'S3ServerAccessLogDelivery',
          Effect: 'Allow',
          Principal: { Service: 'logging.s3.amazonaws.com' },
          Action: 's3:PutObject',
          Resource: `${this.bucket.arn}/${ACCESS_LOG_PREFIX}*`,
          Condition: {
            ArnLike: { 'aws:SourceArn': opts.source.arn },
            StringEquals: { 'aws:SourceAccount': opts.account },
          },
        },
        {
          Sid: 'DenyInsecureTransport',
          Effect: 'Deny',
          Principal: '*',
          Action: 's3:*', // a Deny: no request at all without TLS
          Resource: [this.bucket.arn, `${this.bucket.arn}/*`],
          Condition: { Bool: { 'aws:SecureTransport': 'false' } },
        },
      ]),
      dependsOn: [publicAccessBlock],
    });
    new S3BucketLoggingA(this, 'source-logging', {
      bucket: opts.source.id,
      targetBucket: bucket,
      targetPrefix: ACCESS_LOG_PREFIX,
      // Delivery is checked when logging is turned on: the policy must be there first.
      dependsOn: [policy],
    });
  }
}
