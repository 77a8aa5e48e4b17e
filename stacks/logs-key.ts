import { KmsAlias } from '@cdktf/provider-aws/lib/kms-alias/index.js';
import { KmsKey } from '@cdktf/provider-aws/lib/kms-key/index.js';
import { Construct } from 'constructs';
import { policyDocument } from './policy-document.js';

export interface LogsKeyOptions {
  prefix: string;
  region: string;
  /** The account and partition (from aws_caller_identity / aws_partition). */
  account: string;
  partition: string;
  /**
   * Names of the log groups encrypted with the key. CloudWatch Logs may use the key for these
   * only (the encryption context names the log group). Names, not references: the groups refer
   * to the key, so the key's policy cannot refer to them.
   */
  logGroupNames: string[];
}

/**
 * The customer-managed KMS key (rotated yearly) of the environment's log groups and alarm topic.
 * A customer-managed key because AWS-managed keys cannot be shared: CloudWatch Logs must be let
 * in to encrypt a log group, and CloudWatch alarms to publish to an encrypted SNS topic, which
 * the AWS-managed SNS key refuses them. Its policy lets the account administer and use it through
 * IAM (AWS's default), CloudWatch Logs use it for the named log groups only, and CloudWatch
 * alarms encrypt messages to the topic.
 */
export class LogsKey extends Construct {
  readonly key: KmsKey;

  constructor(scope: Construct, id: string, opts: LogsKeyOptions) {
    super(scope, id);
    const { prefix, region, account, partition } = opts;
    this.key = new KmsKey(this, 'cmk', {
      description: `${prefix} log groups and alarm topic`,
      enableKeyRotation: true,
      deletionWindowInDays: 30,
      policy: policyDocument([
        {
          Sid: 'AccountAdministersThroughIam',
          Effect: 'Allow',
          Principal: { AWS: `arn:${partition}:iam::${account}:root` },
          // AWS's default key policy: without it nobody could manage the key (not even to fix
          // this policy); who may do what is then up to IAM policies in the account.
          Action: 'kms:*',
          // In a key policy, "*" is this key.
          Resource: '*',
        },
        {
          Sid: 'CloudWatchLogsEncryptsTheLogGroups',
          Effect: 'Allow',
          Principal: { Service: `logs.${region}.amazonaws.com` },
          Action: [
            'kms:Encrypt',
            'kms:Decrypt',
            'kms:ReEncryptFrom',
            'kms:ReEncryptTo',
            'kms:GenerateDataKey',
            'kms:GenerateDataKeyWithoutPlaintext',
            'kms:DescribeKey',
          ],
          Resource: '*',
          Condition: {
            ArnEquals: {
              'kms:EncryptionContext:aws:logs:arn': opts.logGroupNames.map(
                (name) => `arn:${partition}:logs:${region}:${account}:log-group:${name}`,
              ),
            },
          },
        },
        {
          Sid: 'CloudWatchAlarmsPublishToTheTopic',
          Effect: 'Allow',
          Principal: { Service: 'cloudwatch.amazonaws.com' },
          // What a publisher to an encrypted SNS topic needs: a data key, and its decryption.
          Action: ['kms:GenerateDataKey', 'kms:Decrypt'],
          Resource: '*',
        },
      ]),
    });
    new KmsAlias(this, 'alias', { name: `alias/${prefix}-logs`, targetKeyId: this.key.keyId });
  }

  get arn(): string {
    return this.key.arn;
  }
}
