/**
 * Guardrails over synthesized Terraform JSON (`cdk.tf.json`): a stack that breaks one of them is
 * refused by `jobs synth` and fails the tests. The checks read the JSON itself, not the
 * constructs, so they hold whatever code produced it. They fail closed: a policy they cannot
 * read is a violation.
 */
import { VPC_ENI_ACTIONS } from './processor.js';

export type Rule =
  | 'unencrypted'
  | 'public'
  | 'wildcard-action'
  | 'wildcard-resource'
  | 'lambda-outside-vpc'
  | 'visibility-timeout'
  | 'missing-dlq'
  | 'missing-redrive'
  | 'missing-alarm'
  | 'missing-logs'
  | 'key-rotation'
  | 'state-backend'
  | 'unreadable-policy';

export interface Violation {
  rule: Rule;
  /** `type.name` of the offending resource. */
  resource: string;
  message: string;
}

export interface PolicyOptions {
  /** Actions that may be granted on Resource "*" (AWS offers no narrower resource for them). */
  wildcardResourceActions?: readonly string[];
  /** Least maxReceiveCount of a redrive policy. */
  minMaxReceiveCount?: number;
  /** The state must be in a remote backend (the environment's `requireRemoteState`, prod). */
  requireRemoteState?: boolean;
}

type Block = Record<string, unknown>;
interface TerraformJson {
  terraform?: { backend?: Record<string, Block> };
  resource?: Record<string, Record<string, Block>>;
  data?: Record<string, Record<string, Block>>;
}

interface Statement {
  Effect?: string;
  Principal?: unknown;
  NotPrincipal?: unknown;
  Action?: string | string[];
  NotAction?: string | string[];
  Resource?: string | string[];
  NotResource?: string | string[];
  Condition?: unknown;
}

/** Every violation in one stack's synthesized JSON (empty: the stack passes). */
export function checkStack(json: unknown, opts: PolicyOptions = {}): Violation[] {
  const tf = (json ?? {}) as TerraformJson;
  const resources = tf.resource ?? {};
  const allowedOnStar = new Set(opts.wildcardResourceActions ?? VPC_ENI_ACTIONS);
  const minReceives = opts.minMaxReceiveCount ?? 5;
  const out: Violation[] = [];
  const add = (rule: Rule, resource: string, message: string) => out.push({ rule, resource, message });
  const all = (type: string): [string, Block][] => Object.entries(resources[type] ?? {});
  const ref = (type: string, name: string) => `\${${type}.${name}.`;
  const refersTo = (value: unknown, type: string, name: string) =>
    JSON.stringify(value ?? null).includes(ref(type, name));

  for (const [type, byName] of Object.entries(tf.data ?? {})) {
    if (type === 'aws_iam_policy_document') {
      for (const name of Object.keys(byName)) {
        add(
          'unreadable-policy',
          `data.${type}.${name}`,
          'policy documents must be literal JSON to be checked',
        );
      }
    }
  }

  // --- encryption -----------------------------------------------------------------------------
  for (const [name] of all('aws_s3_bucket')) {
    const sse = all('aws_s3_bucket_server_side_encryption_configuration').find(([, c]) =>
      refersTo(c.bucket, 'aws_s3_bucket', name),
    );
    const rules = (sse?.[1].rule ?? []) as Block[];
    const algorithms = rules.map(
      (r) => ((r.apply_server_side_encryption_by_default ?? {}) as Block).sse_algorithm,
    );
    if (!sse || !algorithms.some((a) => a === 'AES256' || a === 'aws:kms' || a === 'aws:kms:dsse')) {
      add('unencrypted', `aws_s3_bucket.${name}`, 'bucket has no default server-side encryption');
    } else if (!rules.some((r) => r.bucket_key_enabled === true)) {
      add('unencrypted', `aws_s3_bucket.${name}`, 'bucket encryption has no bucket key');
    }
  }
  for (const [name, q] of all('aws_sqs_queue')) {
    if (q.sqs_managed_sse_enabled !== true && !q.kms_master_key_id) {
      add('unencrypted', `aws_sqs_queue.${name}`, 'queue has no server-side encryption');
    }
  }
  for (const type of ['aws_db_instance', 'aws_rds_cluster']) {
    for (const [name, db] of all(type)) {
      if (db.storage_encrypted !== true)
        add('unencrypted', `${type}.${name}`, 'database storage is not encrypted');
    }
  }
  // Logs and alarm messages under a customer-managed key (AWS's own keys would do for logs, but
  // not for the alarm topic: CloudWatch cannot use the AWS-managed SNS key).
  for (const [name, group] of all('aws_cloudwatch_log_group')) {
    if (!group.kms_key_id)
      add('unencrypted', `aws_cloudwatch_log_group.${name}`, 'log group has no kms_key_id');
  }
  for (const [name, topic] of all('aws_sns_topic')) {
    if (!topic.kms_master_key_id)
      add('unencrypted', `aws_sns_topic.${name}`, 'topic has no kms_master_key_id');
  }
  for (const [name, key] of all('aws_kms_key')) {
    if (key.enable_key_rotation !== true)
      add('key-rotation', `aws_kms_key.${name}`, 'customer-managed key without automatic rotation');
  }

  // --- state ----------------------------------------------------------------------------------
  const backends = tf.terraform?.backend ?? {};
  const s3State = backends.s3;
  if (opts.requireRemoteState && !s3State) {
    add(
      'state-backend',
      'terraform.backend',
      `state must be in S3 (encrypted, locked), not ${Object.keys(backends)[0] ?? 'local'}`,
    );
  }
  if (s3State) {
    if (s3State.encrypt !== true) add('state-backend', 'terraform.backend.s3', 'state is not encrypted');
    if (!s3State.dynamodb_table && s3State.use_lockfile !== true) {
      add('state-backend', 'terraform.backend.s3', 'state has no lock (dynamodb_table or use_lockfile)');
    }
  }

  // --- logs of who did what -------------------------------------------------------------------
  const loggings = all('aws_s3_bucket_logging').map(([, l]) => l);
  for (const [name] of all('aws_s3_bucket')) {
    // A bucket receiving access logs does not log itself (its logs would land in itself).
    if (loggings.some((l) => refersTo(l.target_bucket, 'aws_s3_bucket', name))) continue;
    if (!loggings.some((l) => refersTo(l.bucket, 'aws_s3_bucket', name) && l.target_bucket)) {
      add('missing-logs', `aws_s3_bucket.${name}`, 'bucket has no server access logging');
    }
  }
  const flowLogs = all('aws_flow_log').map(([, f]) => f);
  for (const [name] of all('aws_vpc')) {
    if (!flowLogs.some((f) => refersTo(f.vpc_id, 'aws_vpc', name) && f.traffic_type === 'ALL')) {
      add('missing-logs', `aws_vpc.${name}`, 'VPC has no flow log of all traffic');
    }
  }

  // --- public exposure ------------------------------------------------------------------------
  for (const [name, b] of all('aws_s3_bucket')) {
    const block = all('aws_s3_bucket_public_access_block').find(([, c]) =>
      refersTo(c.bucket, 'aws_s3_bucket', name),
    )?.[1];
    const flags = [
      'block_public_acls',
      'block_public_policy',
      'ignore_public_acls',
      'restrict_public_buckets',
    ];
    if (!block || !flags.every((f) => block[f] === true)) {
      add('public', `aws_s3_bucket.${name}`, 'bucket does not block all public access');
    }
    if (typeof b.acl === 'string' && b.acl.startsWith('public')) {
      add('public', `aws_s3_bucket.${name}`, `bucket ACL is ${b.acl}`);
    }
  }
  for (const [name, acl] of all('aws_s3_bucket_acl')) {
    if (typeof acl.acl === 'string' && acl.acl.startsWith('public')) {
      add('public', `aws_s3_bucket_acl.${name}`, `bucket ACL is ${acl.acl}`);
    }
  }
  for (const type of ['aws_db_instance', 'aws_rds_cluster_instance']) {
    for (const [name, db] of all(type)) {
      if (db.publicly_accessible === true)
        add('public', `${type}.${name}`, 'database is publicly accessible');
    }
  }
  const openCidr = (v: unknown) => v === '0.0.0.0/0' || v === '::/0';
  for (const [name, rule] of all('aws_vpc_security_group_ingress_rule')) {
    if (openCidr(rule.cidr_ipv4) || openCidr(rule.cidr_ipv6)) {
      add('public', `aws_vpc_security_group_ingress_rule.${name}`, 'ingress open to the internet');
    }
  }
  for (const [name, sg] of all('aws_security_group')) {
    for (const rule of (sg.ingress ?? []) as Block[]) {
      const cidrs = [
        ...((rule.cidr_blocks ?? []) as unknown[]),
        ...((rule.ipv6_cidr_blocks ?? []) as unknown[]),
      ];
      if (cidrs.some(openCidr)) add('public', `aws_security_group.${name}`, 'ingress open to the internet');
    }
  }
  for (const [name, rule] of all('aws_security_group_rule')) {
    const cidrs = [
      ...((rule.cidr_blocks ?? []) as unknown[]),
      ...((rule.ipv6_cidr_blocks ?? []) as unknown[]),
    ];
    if (rule.type === 'ingress' && cidrs.some(openCidr)) {
      add('public', `aws_security_group_rule.${name}`, 'ingress open to the internet');
    }
  }
  for (const [name, url] of all('aws_lambda_function_url')) {
    if (url.authorization_type === 'NONE')
      add('public', `aws_lambda_function_url.${name}`, 'function URL without auth');
  }
  for (const [name, perm] of all('aws_lambda_permission')) {
    if (perm.principal === '*')
      add('public', `aws_lambda_permission.${name}`, 'anyone may invoke the function');
  }

  // --- policy documents -----------------------------------------------------------------------
  const documents: [string, string, unknown, 'identity' | 'resource' | 'trust' | 'key'][] = [];
  for (const type of [
    'aws_iam_role_policy',
    'aws_iam_policy',
    'aws_iam_user_policy',
    'aws_iam_group_policy',
  ]) {
    for (const [name, p] of all(type)) documents.push([type, name, p.policy, 'identity']);
  }
  for (const [name, role] of all('aws_iam_role')) {
    documents.push(['aws_iam_role', name, role.assume_role_policy, 'trust']);
    for (const inline of (role.inline_policy ?? []) as Block[]) {
      documents.push(['aws_iam_role', name, inline.policy, 'identity']);
    }
  }
  for (const type of ['aws_s3_bucket_policy', 'aws_sqs_queue_policy', 'aws_sns_topic_policy']) {
    for (const [name, p] of all(type)) documents.push([type, name, p.policy, 'resource']);
  }
  // Without a policy a key gets AWS's default one (the account, through IAM): nothing to check.
  for (const [name, key] of all('aws_kms_key')) {
    if (key.policy !== undefined) documents.push(['aws_kms_key', name, key.policy, 'key']);
  }
  for (const [name, p] of all('aws_kms_key_policy'))
    documents.push(['aws_kms_key_policy', name, p.policy, 'key']);
  for (const [type, name, text, kind] of documents) {
    const where = `${type}.${name}`;
    const statements = parseStatements(text);
    if (!statements) {
      add('unreadable-policy', where, 'policy is not literal JSON and cannot be checked');
      continue;
    }
    for (const s of statements) {
      if (s.Effect !== 'Allow') continue; // Deny statements only ever take rights away
      if (kind !== 'identity' && isEveryone(s.Principal) && !s.Condition) {
        add('public', where, `a policy allows ${list(s.Action).join(', ') || 'actions'} to everyone`);
      }
      if (s.NotPrincipal) add('public', where, 'Allow with NotPrincipal grants to everyone else');
      if (s.NotAction) add('wildcard-action', where, 'Allow with NotAction grants every other action');
      const actions = list(s.Action);
      // A key policy's one allowed wildcard: AWS's default statement giving the key to its own
      // account (then governed by IAM), without which the key could not even be managed.
      const accountAdmin = kind === 'key' && isAccountRoot(s.Principal) && !s.Condition;
      for (const a of actions) {
        if (a.includes('*') && !(accountAdmin && a === 'kms:*')) {
          add('wildcard-action', where, `action "${a}" is a wildcard`);
        }
      }
      if (kind === 'trust') continue; // trust policies name no resources
      if (kind === 'key') continue; // in a key policy, Resource "*" is the key itself
      if (s.NotResource)
        add('wildcard-resource', where, 'Allow with NotResource grants every other resource');
      const starActions = actions.filter((a) => !allowedOnStar.has(a));
      if (list(s.Resource).some(isWildcardResource) && starActions.length > 0) {
        add(
          'wildcard-resource',
          where,
          `Resource "*" for ${starActions.join(', ')} (only ${[...allowedOnStar].join(', ')} may have it)`,
        );
      }
    }
  }

  // --- Lambda in the VPC ----------------------------------------------------------------------
  const functions = all('aws_lambda_function');
  for (const [name, fn] of functions) {
    const vpc = (Array.isArray(fn.vpc_config) ? fn.vpc_config[0] : fn.vpc_config) as Block | undefined;
    const subnets = (vpc?.subnet_ids ?? []) as unknown[];
    const groups = (vpc?.security_group_ids ?? []) as unknown[];
    if (!vpc || subnets.length === 0 || groups.length === 0) {
      add(
        'lambda-outside-vpc',
        `aws_lambda_function.${name}`,
        'function has no vpc_config (subnets and security groups)',
      );
    }
  }

  // --- queues: visibility, DLQ, redrive -------------------------------------------------------
  const queues = all('aws_sqs_queue');
  const redriveOf = (q: Block): Block | undefined => {
    if (typeof q.redrive_policy !== 'string') return undefined;
    try {
      return JSON.parse(q.redrive_policy) as Block;
    } catch {
      return undefined;
    }
  };
  const dlqNames = new Set(
    queues
      .filter(([dlq]) =>
        queues.some(([, q]) => refersTo(redriveOf(q)?.deadLetterTargetArn, 'aws_sqs_queue', dlq)),
      )
      .map(([n]) => n),
  );
  for (const [name, q] of queues) {
    const where = `aws_sqs_queue.${name}`;
    if (dlqNames.has(name)) {
      const allow = all('aws_sqs_queue_redrive_allow_policy').some(([, p]) =>
        refersTo(p.queue_url, 'aws_sqs_queue', name),
      );
      if (!allow && typeof q.redrive_allow_policy !== 'string') {
        add('missing-redrive', where, 'dead-letter queue has no redrive allow policy');
      }
      continue;
    }
    const redrive = redriveOf(q);
    const target = queues.find(([n]) => refersTo(redrive?.deadLetterTargetArn, 'aws_sqs_queue', n));
    if (!redrive || !target) {
      add('missing-dlq', where, 'queue has no redrive policy to a dead-letter queue in this stack');
    } else if (Number(redrive.maxReceiveCount) < minReceives) {
      add(
        'missing-redrive',
        where,
        `maxReceiveCount ${String(redrive.maxReceiveCount)} is below ${minReceives}`,
      );
    }
  }
  for (const [name, m] of all('aws_lambda_event_source_mapping')) {
    const queue = queues.find(([n]) => refersTo(m.event_source_arn, 'aws_sqs_queue', n));
    const fn = functions.find(([n]) => refersTo(m.function_name, 'aws_lambda_function', n));
    if (!queue || !fn) continue;
    const visibility = Number(queue[1].visibility_timeout_seconds ?? 30);
    const timeout = Number(fn[1].timeout ?? 3);
    if (visibility < 6 * timeout) {
      add(
        'visibility-timeout',
        `aws_sqs_queue.${queue[0]}`,
        `visibility timeout ${visibility} s is below 6 × the timeout of aws_lambda_function.${fn[0]} (${6 * timeout} s)`,
      );
    }
    if (!JSON.stringify(m.function_response_types ?? []).includes('ReportBatchItemFailures')) {
      add(
        'missing-redrive',
        `aws_lambda_event_source_mapping.${name}`,
        'event source mapping does not report batch item failures',
      );
    }
  }

  // --- alarms ---------------------------------------------------------------------------------
  const alarms = all('aws_cloudwatch_metric_alarm').map(([, a]) => a);
  const hasAlarm = (namespace: string, metric: string, dimension: string, type: string, name: string) =>
    alarms.some(
      (a) =>
        a.namespace === namespace &&
        a.metric_name === metric &&
        refersTo((a.dimensions as Block | undefined)?.[dimension], type, name) &&
        ((a.alarm_actions ?? []) as unknown[]).length > 0,
    );
  for (const [name] of queues) {
    const [metric, what] = dlqNames.has(name)
      ? ['ApproximateNumberOfMessagesVisible', 'visible messages in the dead-letter queue']
      : ['ApproximateAgeOfOldestMessage', 'the age of the oldest message'];
    if (!hasAlarm('AWS/SQS', metric, 'QueueName', 'aws_sqs_queue', name)) {
      add('missing-alarm', `aws_sqs_queue.${name}`, `no alarm (with an action) on ${what}`);
    }
  }
  for (const [name] of functions) {
    for (const metric of ['Errors', 'Throttles', 'Duration']) {
      if (!hasAlarm('AWS/Lambda', metric, 'FunctionName', 'aws_lambda_function', name)) {
        add('missing-alarm', `aws_lambda_function.${name}`, `no alarm (with an action) on ${metric}`);
      }
    }
  }
  return out;
}

function parseStatements(text: unknown): Statement[] | undefined {
  if (typeof text !== 'string') return undefined;
  try {
    const doc = JSON.parse(text) as { Statement?: Statement | Statement[] };
    if (!doc.Statement) return undefined;
    return Array.isArray(doc.Statement) ? doc.Statement : [doc.Statement];
  } catch {
    return undefined;
  }
}

const list = (v: string | string[] | undefined): string[] =>
  v === undefined ? [] : Array.isArray(v) ? v : [v];

function isEveryone(principal: unknown): boolean {
  if (principal === '*') return true;
  if (principal && typeof principal === 'object' && 'AWS' in principal) {
    const aws = (principal as { AWS: unknown }).AWS;
    return aws === '*' || (Array.isArray(aws) && aws.includes('*'));
  }
  return false;
}

/** `{AWS: "arn:<partition>:iam::<account>:root"}`: the account itself, not a role or user in it. */
function isAccountRoot(principal: unknown): boolean {
  if (!principal || typeof principal !== 'object' || !('AWS' in principal)) return false;
  const aws = (principal as { AWS: unknown }).AWS;
  return typeof aws === 'string' && /^arn:[^:]+:iam::[^:]+:root$/.test(aws);
}

/** `*`, or an ARN whose resource part is only `*` (every bucket, every queue of an account…). */
function isWildcardResource(resource: string): boolean {
  if (resource === '*') return true;
  const parts = resource.split(':');
  return parts[0] === 'arn' && parts.length >= 6 && parts.slice(5).join(':') === '*';
}

/** One line per violation, for error messages. */
export function formatViolations(violations: Violation[]): string {
  return violations.map((v) => `${v.rule}: ${v.resource}: ${v.message}`).join('\n');
}
