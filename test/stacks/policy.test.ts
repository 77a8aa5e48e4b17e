import { describe, expect, it } from '@jest/globals';
import { prod } from '../../stacks/config/prod.js';
import { qa } from '../../stacks/config/qa.js';
import { checkStack, type Rule, type Violation } from '../../stacks/policy.js';
import { clone, nameOf, synthStack, type Block, type TfJson } from './synth-helpers.js';

/**
 * The guardrails (stacks/policy.ts): the real stacks pass, and each rule is shown to fail on a
 * stack broken in exactly that way, so none of them can pass by accident.
 */
const qaJson = synthStack(qa);
const prodJson = synthStack(prod);

/** A broken copy of the qa stack, and the violations the checker finds in it. */
function breakQa(mutate: (tf: TfJson, n: (type: string, path: string) => string) => void): Violation[] {
  const tf = clone(qaJson);
  mutate(tf, (type, path) => nameOf(tf, type, path));
  return checkStack(tf);
}
const rules = (v: Violation[]) => [...new Set(v.map((x) => x.rule))];
const expectOnly = (v: Violation[], rule: Rule, resource: RegExp, message?: RegExp) => {
  expect(rules(v)).toEqual([rule]);
  expect(v.some((x) => resource.test(x.resource) && (!message || message.test(x.message)))).toBe(true);
};

const res = (tf: TfJson, type: string, name: string) => tf.resource[type][name];
const policy = (b: Block) => JSON.parse(b.policy as string) as { Statement: Block[] };
const setPolicy = (b: Block, doc: { Statement: Block[] }) => {
  b.policy = JSON.stringify({ Version: '2012-10-17', ...doc });
};

describe('the real stacks', () => {
  it('pass every guardrail', () => {
    expect(checkStack(qaJson)).toEqual([]);
    expect(checkStack(prodJson)).toEqual([]);
  });
});

describe('encryption', () => {
  it('fails a bucket without default encryption', () => {
    const v = breakQa((tf) => delete tf.resource.aws_s3_bucket_server_side_encryption_configuration);
    expectOnly(v, 'unencrypted', /^aws_s3_bucket\./, /no default server-side encryption/);
  });
  it('fails a bucket encryption without a bucket key', () => {
    const v = breakQa((tf, n) => {
      res(
        tf,
        'aws_s3_bucket_server_side_encryption_configuration',
        n('aws_s3_bucket_server_side_encryption_configuration', 'storage/encryption'),
      ).rule[0].bucket_key_enabled = false;
    });
    expectOnly(v, 'unencrypted', /^aws_s3_bucket\./, /bucket key/);
  });
  it('fails a queue without SSE', () => {
    const v = breakQa((tf, n) => {
      res(tf, 'aws_sqs_queue', n('aws_sqs_queue', 'queue/dlq')).sqs_managed_sse_enabled = false;
    });
    expectOnly(v, 'unencrypted', /^aws_sqs_queue\.queue_dlq_/);
  });
  it('fails an unencrypted database', () => {
    const v = breakQa((tf, n) => {
      res(tf, 'aws_db_instance', n('aws_db_instance', 'database/instance')).storage_encrypted = false;
    });
    expectOnly(v, 'unencrypted', /^aws_db_instance\./);
  });
});

describe('encryption of logs and alarms', () => {
  it('fails a log group without a KMS key', () => {
    const v = breakQa((tf, n) => {
      delete res(tf, 'aws_cloudwatch_log_group', n('aws_cloudwatch_log_group', 'processor/logs')).kms_key_id;
    });
    expectOnly(v, 'unencrypted', /^aws_cloudwatch_log_group\.processor_logs_/, /kms_key_id/);
  });
  it('fails an SNS topic without a KMS key', () => {
    const v = breakQa((tf, n) => {
      delete res(tf, 'aws_sns_topic', n('aws_sns_topic', 'monitoring/alarms')).kms_master_key_id;
    });
    expectOnly(v, 'unencrypted', /^aws_sns_topic\./, /kms_master_key_id/);
  });
  it('fails a customer-managed key that is not rotated', () => {
    const v = breakQa((tf, n) => {
      res(tf, 'aws_kms_key', n('aws_kms_key', 'logs-key/cmk')).enable_key_rotation = false;
    });
    expectOnly(v, 'key-rotation', /^aws_kms_key\./);
  });
  it('fails a key policy with a wildcard action for anyone but the account, or open to everyone', () => {
    const wildcard = breakQa((tf, n) => {
      const key = res(tf, 'aws_kms_key', n('aws_kms_key', 'logs-key/cmk'));
      const doc = policy(key);
      doc.Statement.find((s) => s.Sid === 'CloudWatchAlarmsPublishToTheTopic')!.Action = 'kms:*';
      setPolicy(key, doc);
    });
    expectOnly(wildcard, 'wildcard-action', /^aws_kms_key\./, /"kms:\*"/);
    const conditionedRoot = breakQa((tf, n) => {
      // The account statement is allowed kms:* as it is, not once narrowed by a condition.
      const key = res(tf, 'aws_kms_key', n('aws_kms_key', 'logs-key/cmk'));
      const doc = policy(key);
      doc.Statement[0].Condition = { StringEquals: { 'aws:PrincipalTag/team': 'x' } };
      setPolicy(key, doc);
    });
    expectOnly(conditionedRoot, 'wildcard-action', /^aws_kms_key\./);
    const open = breakQa((tf, n) => {
      const key = res(tf, 'aws_kms_key', n('aws_kms_key', 'logs-key/cmk'));
      const doc = policy(key);
      doc.Statement.push({ Effect: 'Allow', Principal: '*', Action: 'kms:Decrypt', Resource: '*' });
      setPolicy(key, doc);
    });
    expectOnly(open, 'public', /^aws_kms_key\./, /to everyone/);
  });
});

describe('logs of who did what', () => {
  it('fails a bucket without server access logging (and its log bucket then logs nothing either)', () => {
    const v = breakQa((tf) => delete tf.resource.aws_s3_bucket_logging);
    expect(rules(v)).toEqual(['missing-logs']);
    expect(v.map((x) => x.resource.replace(/_[0-9A-F]{8}$/, '')).sort()).toEqual([
      'aws_s3_bucket.access-logs_bucket',
      'aws_s3_bucket.storage_bucket',
    ]);
  });
  it('fails a VPC without a flow log of all its traffic', () => {
    const none = breakQa((tf) => delete tf.resource.aws_flow_log);
    expectOnly(none, 'missing-logs', /^aws_vpc\./, /flow log/);
    const rejectedOnly = breakQa((tf, n) => {
      res(tf, 'aws_flow_log', n('aws_flow_log', 'network/flow-log')).traffic_type = 'REJECT';
    });
    expectOnly(rejectedOnly, 'missing-logs', /^aws_vpc\./);
  });
});

describe('terraform state', () => {
  it('passes prod, whose state is in S3, encrypted and locked, when remote state is required', () => {
    expect(checkStack(prodJson, { requireRemoteState: true })).toEqual([]);
  });
  it('fails local state when remote state is required', () => {
    const v = checkStack(qaJson, { requireRemoteState: true });
    expectOnly(v, 'state-backend', /^terraform\.backend$/, /not local/);
  });
  it('fails S3 state that is not encrypted or not locked', () => {
    const tf = clone(prodJson);
    tf.terraform.backend.s3.encrypt = false;
    expectOnly(checkStack(tf), 'state-backend', /^terraform\.backend\.s3$/, /not encrypted/);
    const unlocked = clone(prodJson);
    delete unlocked.terraform.backend.s3.use_lockfile;
    expectOnly(checkStack(unlocked), 'state-backend', /^terraform\.backend\.s3$/, /no lock/);
  });
});

describe('anything public', () => {
  it('fails a bucket that does not block every kind of public access', () => {
    const v = breakQa((tf, n) => {
      res(
        tf,
        'aws_s3_bucket_public_access_block',
        n('aws_s3_bucket_public_access_block', 'storage/public-access-block'),
      ).restrict_public_buckets = false;
    });
    expectOnly(v, 'public', /^aws_s3_bucket\./);
  });
  it('fails a bucket policy that allows everyone', () => {
    const v = breakQa((tf, n) => {
      const b = res(tf, 'aws_s3_bucket_policy', n('aws_s3_bucket_policy', 'storage/policy'));
      const doc = policy(b);
      doc.Statement.push({
        Effect: 'Allow',
        Principal: { AWS: '*' },
        Action: 's3:GetObject',
        Resource: 'arn:aws:s3:::b/inputs/x',
      });
      setPolicy(b, doc);
    });
    expectOnly(v, 'public', /^aws_s3_bucket_policy\./, /to everyone/);
  });
  it('fails a publicly accessible database', () => {
    const v = breakQa((tf, n) => {
      res(tf, 'aws_db_instance', n('aws_db_instance', 'database/instance')).publicly_accessible = true;
    });
    expectOnly(v, 'public', /^aws_db_instance\./);
  });
  it('fails ingress from the internet', () => {
    const v = breakQa((tf, n) => {
      res(
        tf,
        'aws_vpc_security_group_ingress_rule',
        n('aws_vpc_security_group_ingress_rule', 'network/db-from-lambda'),
      ).cidr_ipv4 = '0.0.0.0/0';
    });
    expectOnly(v, 'public', /^aws_vpc_security_group_ingress_rule\./);
  });
  it('fails a role anyone may assume, and a function URL without auth', () => {
    const v = breakQa((tf, n) => {
      const role = res(tf, 'aws_iam_role', n('aws_iam_role', 'api-host/role'));
      role.assume_role_policy = JSON.stringify({
        Statement: [{ Effect: 'Allow', Principal: '*', Action: 'sts:AssumeRole' }],
      });
      tf.resource.aws_lambda_function_url = { open: { function_name: 'f', authorization_type: 'NONE' } };
    });
    expect(v.map((x) => [x.rule, x.resource.replace(/_[0-9A-F]{8}$/, '')]).sort()).toEqual([
      ['public', 'aws_iam_role.api-host_role'],
      ['public', 'aws_lambda_function_url.open'],
    ]);
  });
});

describe('wildcards', () => {
  it('fails a wildcard action in an Allow (and a NotAction), but not in the TLS-only Deny', () => {
    const v = breakQa((tf, n) => {
      const b = res(tf, 'aws_iam_role_policy', n('aws_iam_role_policy', 'processor/policy'));
      const doc = policy(b);
      doc.Statement[0].Action = 's3:Get*';
      setPolicy(b, doc);
    });
    expectOnly(v, 'wildcard-action', /^aws_iam_role_policy\.processor_policy_/, /"s3:Get\*"/);
    const star = breakQa((tf, n) => {
      const b = res(tf, 'aws_iam_role_policy', n('aws_iam_role_policy', 'api-host/policy'));
      setPolicy(b, { Statement: [{ Effect: 'Allow', Action: '*', Resource: 'arn:aws:sqs:eu-west-1:1:q' }] });
    });
    expectOnly(star, 'wildcard-action', /^aws_iam_role_policy\.api-host_policy_/);
    const notAction = breakQa((tf, n) => {
      const b = res(tf, 'aws_iam_role_policy', n('aws_iam_role_policy', 'api-host/policy'));
      setPolicy(b, {
        Statement: [{ Effect: 'Allow', NotAction: 'iam:PassRole', Resource: 'arn:aws:sqs:eu-west-1:1:q' }],
      });
    });
    expectOnly(notAction, 'wildcard-action', /^aws_iam_role_policy\./, /NotAction/);
  });
  it('fails Resource "*" for anything but the VPC ENI actions', () => {
    const v = breakQa((tf, n) => {
      const b = res(tf, 'aws_iam_role_policy', n('aws_iam_role_policy', 'processor/policy'));
      const doc = policy(b);
      doc.Statement.find((s) => s.Sid === 'ConsumeQueue')!.Resource = '*';
      setPolicy(b, doc);
    });
    expectOnly(v, 'wildcard-resource', /^aws_iam_role_policy\.processor_policy_/, /sqs:ReceiveMessage/);
    const everyQueue = breakQa((tf, n) => {
      const b = res(tf, 'aws_iam_role_policy', n('aws_iam_role_policy', 'api-host/policy'));
      const doc = policy(b);
      doc.Statement.find((s) => s.Sid === 'SendJobs')!.Resource = 'arn:aws:sqs:eu-west-1:123456789012:*';
      setPolicy(b, doc);
    });
    expectOnly(everyQueue, 'wildcard-resource', /^aws_iam_role_policy\.api-host_policy_/);
    // An ENI action slipped into the same "*" statement as a non-ENI one still fails.
    const mixed = breakQa((tf, n) => {
      const b = res(tf, 'aws_iam_role_policy', n('aws_iam_role_policy', 'processor/policy'));
      const doc = policy(b);
      doc.Statement.find((s) => s.Sid === 'VpcNetworkInterfaces')!.Action.push('ec2:RunInstances');
      setPolicy(b, doc);
    });
    expectOnly(mixed, 'wildcard-resource', /^aws_iam_role_policy\./, /ec2:RunInstances/);
  });
  it('fails policies it cannot read instead of trusting them', () => {
    const v = breakQa((tf, n) => {
      res(tf, 'aws_iam_role_policy', n('aws_iam_role_policy', 'api-host/policy')).policy =
        '${jsonencode(local.p)}';
    });
    expectOnly(v, 'unreadable-policy', /^aws_iam_role_policy\./);
  });
});

describe('the processor and its queue', () => {
  it('fails a Lambda outside the VPC', () => {
    const v = breakQa((tf, n) => {
      delete res(tf, 'aws_lambda_function', n('aws_lambda_function', 'processor/function')).vpc_config;
    });
    expectOnly(v, 'lambda-outside-vpc', /^aws_lambda_function\./);
  });
  it('fails a visibility timeout under 6 × the function timeout', () => {
    const v = breakQa((tf, n) => {
      res(tf, 'aws_lambda_function', n('aws_lambda_function', 'processor/function')).timeout = 121; // 726 > 720
    });
    expectOnly(v, 'visibility-timeout', /^aws_sqs_queue\.queue_[0-9A-F]{8}$/, /below 6 × the timeout/);
  });
  it('fails a stack built from a config with too short a visibility timeout', () => {
    // The config check would refuse it first; the JSON rule must catch it on its own too.
    const tf = synthStack({ ...qa, queue: { maxReceiveCount: 5, visibilityTimeoutSeconds: 300 } });
    expect(rules(checkStack(tf))).toEqual(['visibility-timeout']);
  });
  it('fails a queue without a DLQ', () => {
    const v = breakQa((tf, n) => {
      delete res(tf, 'aws_sqs_queue', n('aws_sqs_queue', 'queue/queue')).redrive_policy;
    });
    // (The DLQ is still the priority queue's, so it is still a dead-letter queue.)
    expect(rules(v)).toEqual(['missing-dlq']);
    // Without both redrives, the DLQ is an ordinary queue: it too lacks a DLQ and an age alarm.
    const neither = breakQa((tf, n) => {
      for (const q of ['queue/queue', 'queue/priority-queue'])
        delete res(tf, 'aws_sqs_queue', n('aws_sqs_queue', q)).redrive_policy;
    });
    expect(rules(neither)).toEqual(['missing-dlq', 'missing-alarm']);
    expect(
      v.find((x) => x.rule === 'missing-dlq' && /^aws_sqs_queue\.queue_[0-9A-F]{8}$/.test(x.resource)),
    ).toBeDefined();
  });
  it('fails a redrive under 5 receives, a DLQ without a redrive allow policy, a mapping without partial failures', () => {
    const few = breakQa((tf, n) => {
      const q = res(tf, 'aws_sqs_queue', n('aws_sqs_queue', 'queue/queue'));
      q.redrive_policy = JSON.stringify({ ...JSON.parse(q.redrive_policy), maxReceiveCount: 2 });
    });
    expectOnly(few, 'missing-redrive', /^aws_sqs_queue\./, /maxReceiveCount 2/);
    const noAllow = breakQa((tf) => delete tf.resource.aws_sqs_queue_redrive_allow_policy);
    expectOnly(noAllow, 'missing-redrive', /^aws_sqs_queue\.queue_dlq_/, /redrive allow policy/);
    const noPartial = breakQa((tf, n) => {
      res(
        tf,
        'aws_lambda_event_source_mapping',
        n('aws_lambda_event_source_mapping', 'processor/queue-trigger'),
      ).function_response_types = [];
    });
    expectOnly(noPartial, 'missing-redrive', /^aws_lambda_event_source_mapping\./);
  });
});

describe('alarms', () => {
  it.each([
    ['monitoring/dlq-messages', /^aws_sqs_queue\.queue_dlq_/, /dead-letter/],
    ['monitoring/oldest-message-age', /^aws_sqs_queue\.queue_[0-9A-F]{8}$/, /oldest message/],
    ['monitoring/lambda-errors', /^aws_lambda_function\./, /Errors/],
    ['monitoring/lambda-throttles', /^aws_lambda_function\./, /Throttles/],
    ['monitoring/lambda-duration', /^aws_lambda_function\./, /Duration/],
  ])('fails when the alarm %s is missing', (path, resource, message) => {
    const v = breakQa(
      (tf, n) => delete tf.resource.aws_cloudwatch_metric_alarm[n('aws_cloudwatch_metric_alarm', path)],
    );
    expectOnly(v, 'missing-alarm', resource, message);
  });
  it('fails an alarm that notifies no one', () => {
    const v = breakQa((tf, n) => {
      res(
        tf,
        'aws_cloudwatch_metric_alarm',
        n('aws_cloudwatch_metric_alarm', 'monitoring/lambda-errors'),
      ).alarm_actions = [];
    });
    expectOnly(v, 'missing-alarm', /^aws_lambda_function\./, /Errors/);
  });
});
