import { KmsKey } from '@cdktf/provider-aws/lib/kms-key/index.js';
import { S3Bucket } from '@cdktf/provider-aws/lib/s3-bucket/index.js';
import { S3BucketLifecycleConfiguration } from '@cdktf/provider-aws/lib/s3-bucket-lifecycle-configuration/index.js';
import { S3BucketPolicy } from '@cdktf/provider-aws/lib/s3-bucket-policy/index.js';
import { S3BucketServerSideEncryptionConfigurationA } from '@cdktf/provider-aws/lib/s3-bucket-server-side-encryption-configuration/index.js';
import { S3BucketVersioningA } from '@cdktf/provider-aws/lib/s3-bucket-versioning/index.js';
import { Construct } from 'constructs';
import type { StorageConfig } from './config/types.js';
import { policyDocument } from './policy-document.js';
import { lockDownBucket } from './private-bucket.js';

/** The key prefix of job inputs (`core/blobs/blob-store.ts` writes `inputs/<owner>/<job>`). */
export const INPUT_PREFIX = 'inputs/';
/** The key prefix of job outputs (`core/jobs/outputs.ts`: `outputs/<owner>/<job>/<attempt>/<name>`). */
export const OUTPUT_PREFIX = 'outputs/';

export interface InputBucketOptions {
  prefix: string;
  config: StorageConfig;
  /**
   * JOBS_RETENTION_DAYS of the deployment. Outputs expire a day later than that, counted from
   * when they were written (before their job ended): retention deletes them with their job first,
   * for any job that ran less than a day; the rule is the backstop for files no job lists any more
   * (an attempt cut off mid-write, a delete that failed).
   */
  retentionDays: number;
}

/**
 * The input bucket: encrypted by default (SSE-S3, or SSE-KMS with a bucket key), never public,
 * TLS only, versioned, owner-enforced (no ACLs), and inputs expire after N days.
 */
export class InputBucket extends Construct {
  readonly bucket: S3Bucket;
  /** The KMS key ARN when inputs are KMS-encrypted (roles need it to read and write). */
  readonly kmsKeyArn?: string;

  constructor(scope: Construct, id: string, opts: InputBucketOptions) {
    super(scope, id);
    const { prefix, config } = opts;
    this.bucket = new S3Bucket(this, 'bucket', {
      bucketPrefix: `${prefix}-inputs-`,
      forceDestroy: config.forceDestroy ?? false,
    });
    const bucket = this.bucket.id;

    if (config.encryption.kind === 'KMS') {
      this.kmsKeyArn =
        config.encryption.keyArn ??
        new KmsKey(this, 'key', {
          description: `${prefix} job inputs`,
          enableKeyRotation: true,
          deletionWindowInDays: 30,
        }).arn;
    }
    new S3BucketServerSideEncryptionConfigurationA(this, 'encryption', {
      bucket,
      rule: [
        {
          applyServerSideEncryptionByDefault: this.kmsKeyArn
            ? { sseAlgorithm: 'aws:kms', kmsMasterKeyId: this.kmsKeyArn }
            : { sseAlgorithm: 'AES256' },
          // With KMS, one data key per bucket instead of per object: far fewer KMS calls.
          bucketKeyEnabled: true,
        },
      ],
    });
    const publicAccessBlock = lockDownBucket(this, bucket);
    new S3BucketVersioningA(this, 'versioning', {
      bucket,
      versioningConfiguration: { status: 'Enabled' },
    });
    new S3BucketLifecycleConfiguration(this, 'lifecycle', {
      bucket,
      rule: [
        {
          id: 'expire-inputs',
          status: 'Enabled',
          filter: [{ prefix: INPUT_PREFIX }],
          expiration: [{ days: config.expireInputsAfterDays }],
          // Versioning keeps a deleted or expired input as a noncurrent version: expire those too.
          noncurrentVersionExpiration: [{ noncurrentDays: config.expireInputsAfterDays }],
          // Direct uploads that were begun and never completed or aborted.
          abortIncompleteMultipartUpload: [{ daysAfterInitiation: 1 }],
        },
        {
          id: 'expire-outputs',
          status: 'Enabled',
          filter: [{ prefix: OUTPUT_PREFIX }],
          expiration: [{ days: opts.retentionDays + 1 }],
          // A deleted output (retention, a retried attempt's) is kept as a noncurrent version a day.
          noncurrentVersionExpiration: [{ noncurrentDays: 1 }],
          // Outputs of attempts killed mid-write (a multipart upload never completed).
          abortIncompleteMultipartUpload: [{ daysAfterInitiation: 1 }],
        },
        {
          id: 'expired-delete-markers',
          status: 'Enabled',
          filter: [{ prefix: '' }],
          expiration: [{ expiredObjectDeleteMarker: true }],
        },
      ],
    });
    new S3BucketPolicy(this, 'policy', {
      bucket,
      policy: policyDocument([
        {
          Sid: 'DenyInsecureTransport',
          Effect: 'Deny',
          Principal: '*',
          // A Deny is the one place an action wildcard belongs: no request at all without TLS.
          Action: 's3:*',
          Resource: [this.bucket.arn, `${this.bucket.arn}/*`],
          Condition: { Bool: { 'aws:SecureTransport': 'false' } },
        },
      ]),
      // S3 rejects policy writes racing a public access block change on the same bucket.
      dependsOn: [publicAccessBlock],
    });
  }
}
