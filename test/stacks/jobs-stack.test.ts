import { describe, expect, it } from '@jest/globals';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { loadConfig } from '../../core/config.js';
import { packageRoot } from '../../core/package-root.js';
import { buildJobsApp, StackConfigError } from '../../stacks/app.js';
import { synthesize } from '../../stacks/main.js';
import { checkEnvironment, environments } from '../../stacks/config/index.js';
import { prod } from '../../stacks/config/prod.js';
import { qa } from '../../stacks/config/qa.js';
import type { EnvironmentConfig } from '../../stacks/config/types.js';
import { VPC_ENI_ACTIONS } from '../../stacks/processor.js';
import { SCHEDULE_TICK_EVENT } from '../../processor/tick-event.js';
import {
  fixtureZip,
  nameOf,
  only,
  ref,
  resources,
  scrub,
  synthStack,
  type Block,
  type TfJson,
} from './synth-helpers.js';

/**
 * Each environment's stack, synthesized in memory with cdktf's Testing.synth: what the issue
 * asks of every area, asserted on the Terraform JSON itself, plus a scrubbed snapshot.
 */
const stacks: [string, EnvironmentConfig][] = [
  ['qa', qa],
  ['prod', prod],
];
const synthesized = new Map(stacks.map(([name, env]) => [name, synthStack(env)]));
const json = (name: string) => synthesized.get(name)!;
const policyOf = (b: Block) => JSON.parse(b.policy as string) as { Statement: Block[] };

describe.each(stacks)('the %s stack', (name, env) => {
  const tf = json(name);

  it('pins the AWS provider and region, and tags everything', () => {
    expect(tf.terraform.required_providers.aws).toEqual({ source: 'aws', version: '5.100.0' });
    expect(tf.provider.aws[0].region).toBe(env.region);
    expect(tf.provider.aws[0].default_tags[0].tags).toMatchObject({
      environment: name,
      'managed-by': 'jobs-cdktf',
    });
    if (env.requireRemoteState) {
      expect(tf.terraform.backend).toEqual({
        s3: {
          bucket: env.stateBackend!.bucket,
          key: `jobs/${name}.tfstate`,
          region: env.stateBackend!.region,
          encrypt: true,
          use_lockfile: true,
        },
      });
    } else {
      expect(tf.terraform.backend.local.path).toBe(`../../../terraform.jobs-${name}.tfstate`);
    }
  });

  it('network: a VPC with private subnets only, S3 gateway and SQS/Secrets Manager interface endpoints', () => {
    const net = env.network as { cidr: string; availabilityZones: string[] };
    expect(only(tf, 'aws_vpc').cidr_block).toBe(net.cidr);
    const subnets = resources(tf, 'aws_subnet');
    expect(subnets.map((s) => s.availability_zone)).toEqual(net.availabilityZones);
    for (const s of subnets) expect(s.map_public_ip_on_launch).toBe(false);
    // No internet route of any kind: no gateway, no NAT, no route in the private table.
    expect(tf.resource.aws_internet_gateway).toBeUndefined();
    expect(tf.resource.aws_nat_gateway).toBeUndefined();
    expect(only(tf, 'aws_route_table').route).toBeUndefined();
    const endpoints = resources(tf, 'aws_vpc_endpoint');
    expect(endpoints.map((e) => [e.service_name, e.vpc_endpoint_type]).sort()).toEqual([
      [`com.amazonaws.${env.region}.s3`, 'Gateway'],
      [`com.amazonaws.${env.region}.secretsmanager`, 'Interface'],
      [`com.amazonaws.${env.region}.sqs`, 'Interface'],
    ]);
    for (const e of endpoints.filter((x) => x.vpc_endpoint_type === 'Interface')) {
      expect(e.private_dns_enabled).toBe(true);
      expect(e.subnet_ids).toHaveLength(net.availabilityZones.length);
    }
  });

  it('network: the Lambda and the API hosts may only reach the endpoints (443) and the database port', () => {
    const sgRef = (path: string) => ref('aws_security_group', nameOf(tf, 'aws_security_group', path), 'id');
    const lambdaSg = sgRef('network/lambda-sg');
    const apiSg = sgRef('network/api-host-sg');
    const endpointSg = sgRef('network/endpoint-sg');
    const dbSg = sgRef('database/sg');
    for (const sg of resources(tf, 'aws_security_group')) {
      expect(sg.egress).toBeUndefined(); // Terraform drops AWS's default allow-all egress
      expect(sg.ingress).toBeUndefined();
    }
    const s3 = ref(
      'aws_vpc_endpoint',
      nameOf(tf, 'aws_vpc_endpoint', 'network/s3-endpoint'),
      'prefix_list_id',
    );
    const egress = resources(tf, 'aws_vpc_security_group_egress_rule');
    for (const rule of egress) {
      expect(rule.cidr_ipv4).toBeUndefined(); // never an address range: only groups and S3's prefix list
      expect(rule.cidr_ipv6).toBeUndefined();
    }
    const rows = (rules: Block[], target: (r: Block) => string) =>
      rules.map((r) => [r.security_group_id, target(r), r.from_port, r.to_port]).sort();
    expect(rows(egress, (r) => r.referenced_security_group_id ?? r.prefix_list_id)).toEqual(
      [lambdaSg, apiSg]
        .flatMap((from) => [
          [from, dbSg, 5432, 5432],
          [from, endpointSg, 443, 443],
          [from, s3, 443, 443],
        ])
        .sort(),
    );
    const ingress = resources(tf, 'aws_vpc_security_group_ingress_rule');
    expect(rows(ingress, (r) => r.referenced_security_group_id)).toEqual(
      [lambdaSg, apiSg]
        .flatMap((from) => [
          [dbSg, from, 5432, 5432],
          [endpointSg, from, 443, 443],
        ])
        .sort(),
    );
  });

  it('storage: encrypted with a bucket key, private, TLS only, versioned, expiring, owner-enforced', () => {
    const bucket = nameOf(tf, 'aws_s3_bucket', 'storage/bucket');
    const id = ref('aws_s3_bucket', bucket, 'id');
    const at = (type: string, path: string) => tf.resource[type][nameOf(tf, type, path)];
    const sse = at('aws_s3_bucket_server_side_encryption_configuration', 'storage/encryption');
    expect(sse.bucket).toBe(id);
    const byDefault = sse.rule[0].apply_server_side_encryption_by_default;
    if (env.storage.encryption.kind === 'KMS') {
      const key = nameOf(tf, 'aws_kms_key', 'storage/key');
      expect(byDefault).toEqual({
        sse_algorithm: 'aws:kms',
        kms_master_key_id: ref('aws_kms_key', key, 'arn'),
      });
      expect(tf.resource.aws_kms_key[key].enable_key_rotation).toBe(true);
    } else {
      expect(byDefault).toEqual({ sse_algorithm: 'AES256' });
      expect(() => nameOf(tf, 'aws_kms_key', 'storage/key')).toThrow();
    }
    expect(sse.rule[0].bucket_key_enabled).toBe(true);
    expect(at('aws_s3_bucket_public_access_block', 'storage/public-access-block')).toMatchObject({
      bucket: id,
      block_public_acls: true,
      block_public_policy: true,
      ignore_public_acls: true,
      restrict_public_buckets: true,
    });
    expect(at('aws_s3_bucket_ownership_controls', 'storage/ownership').rule.object_ownership).toBe(
      'BucketOwnerEnforced',
    );
    expect(only(tf, 'aws_s3_bucket_versioning').versioning_configuration.status).toBe('Enabled');
    const expire = at('aws_s3_bucket_lifecycle_configuration', 'storage/lifecycle').rule.find(
      (r: Block) => r.id === 'expire-inputs',
    );
    expect(expire).toMatchObject({
      status: 'Enabled',
      filter: [{ prefix: 'inputs/' }],
      expiration: [{ days: env.storage.expireInputsAfterDays }],
      noncurrent_version_expiration: [{ noncurrent_days: env.storage.expireInputsAfterDays }],
    });
    // Outputs expire a day after retention would delete their job (JOBS_RETENTION_DAYS): the
    // backstop for files no job lists any more, never ahead of retention for a job under a day.
    const outputs = at('aws_s3_bucket_lifecycle_configuration', 'storage/lifecycle').rule.find(
      (r: Block) => r.id === 'expire-outputs',
    );
    const vars = only(tf, 'aws_lambda_function').environment.variables as Record<string, string>;
    expect(outputs).toMatchObject({
      status: 'Enabled',
      filter: [{ prefix: 'outputs/' }],
      expiration: [{ days: Number(vars.JOBS_RETENTION_DAYS) + 1 }],
      noncurrent_version_expiration: [{ noncurrent_days: 1 }],
      abort_incomplete_multipart_upload: [{ days_after_initiation: 1 }],
    });
    const [tls] = policyOf(at('aws_s3_bucket_policy', 'storage/policy')).Statement;
    expect(tls).toEqual({
      Sid: 'DenyInsecureTransport',
      Effect: 'Deny',
      Principal: '*',
      Action: 's3:*',
      Resource: [ref('aws_s3_bucket', bucket, 'arn'), `${ref('aws_s3_bucket', bucket, 'arn')}/*`],
      Condition: { Bool: { 'aws:SecureTransport': 'false' } },
    });
  });

  it('queues: the job and priority queues with SSE, a DLQ after maxReceiveCount, visibility 6 × the Lambda timeout, TLS only, redrive allow', () => {
    const main = nameOf(tf, 'aws_sqs_queue', 'queue/queue');
    const urgent = nameOf(tf, 'aws_sqs_queue', 'queue/priority-queue');
    const dlq = nameOf(tf, 'aws_sqs_queue', 'queue/dlq');
    const d = tf.resource.aws_sqs_queue[dlq];
    expect(d.sqs_managed_sse_enabled).toBe(true);
    for (const q of [tf.resource.aws_sqs_queue[main], tf.resource.aws_sqs_queue[urgent]]) {
      expect(q.sqs_managed_sse_enabled).toBe(true);
      expect(q.visibility_timeout_seconds).toBe(6 * env.processor.timeoutSeconds);
      expect(JSON.parse(q.redrive_policy)).toEqual({
        deadLetterTargetArn: ref('aws_sqs_queue', dlq, 'arn'),
        maxReceiveCount: env.queue.maxReceiveCount,
      });
    }
    expect(tf.resource.aws_sqs_queue[urgent].name).toBe(`jobs-${name}-jobs-priority`);
    const allow = only(tf, 'aws_sqs_queue_redrive_allow_policy');
    expect(allow.queue_url).toBe(ref('aws_sqs_queue', dlq, 'url'));
    expect(JSON.parse(allow.redrive_allow_policy)).toEqual({
      redrivePermission: 'byQueue',
      sourceQueueArns: [ref('aws_sqs_queue', main, 'arn'), ref('aws_sqs_queue', urgent, 'arn')],
    });
    const policies = resources(tf, 'aws_sqs_queue_policy');
    expect(policies.map((p) => p.queue_url).sort()).toEqual(
      [main, urgent, dlq].map((q) => ref('aws_sqs_queue', q, 'url')).sort(),
    );
    for (const p of policies) {
      expect(policyOf(p).Statement).toEqual([
        expect.objectContaining({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } }),
      ]);
    }
  });

  it('processor: Node.js 22 on arm64, sized from config, in the private subnets, with its log group', () => {
    const fn = only(tf, 'aws_lambda_function');
    expect(fn).toMatchObject({
      function_name: `jobs-${name}-processor`,
      runtime: 'nodejs22.x',
      architectures: ['arm64'],
      handler: 'index.handler',
      memory_size: env.processor.memoryMb,
      timeout: env.processor.timeoutSeconds,
      reserved_concurrent_executions: env.processor.reservedConcurrency,
    });
    expect(fn.filename).toMatch(/^assets\/processor_code_[0-9A-F]+\/[0-9A-F]{32}\/processor\.zip$/);
    expect(fn.source_code_hash).toBe(`\${filebase64sha256("${fn.filename}")}`);
    const lambdaSg = nameOf(tf, 'aws_security_group', 'network/lambda-sg');
    expect(fn.vpc_config.security_group_ids).toEqual([ref('aws_security_group', lambdaSg, 'id')]);
    expect(fn.vpc_config.subnet_ids).toEqual(
      Object.keys(tf.resource.aws_subnet).map((s) => ref('aws_subnet', s, 'id')),
    );
    const logs =
      tf.resource.aws_cloudwatch_log_group[nameOf(tf, 'aws_cloudwatch_log_group', 'processor/logs')];
    expect(logs).toMatchObject({
      name: `/aws/lambda/jobs-${name}-processor`,
      retention_in_days: env.processor.logRetentionDays,
      kms_key_id: ref('aws_kms_key', nameOf(tf, 'aws_kms_key', 'logs-key/cmk'), 'arn'),
    });
    // One mapping per queue: priority jobs never wait behind the job queue's backlog.
    const mappings = resources(tf, 'aws_lambda_event_source_mapping');
    expect(mappings.map((m) => m.event_source_arn).sort()).toEqual(
      ['queue/queue', 'queue/priority-queue']
        .map((q) => ref('aws_sqs_queue', nameOf(tf, 'aws_sqs_queue', q), 'arn'))
        .sort(),
    );
    for (const mapping of mappings) {
      expect(mapping).toMatchObject({
        function_name: ref(
          'aws_lambda_function',
          nameOf(tf, 'aws_lambda_function', 'processor/function'),
          'arn',
        ),
        batch_size: env.processor.batchSize,
        function_response_types: ['ReportBatchItemFailures'],
        scaling_config: { maximum_concurrency: env.processor.maximumConcurrency },
      });
    }
  });

  it('processor: its environment is what core/config.ts reads, the database password coming from Secrets Manager', () => {
    const vars = only(tf, 'aws_lambda_function').environment.variables as Record<string, string>;
    // Retention agrees with the input bucket's lifecycle rule (qa keeps both 7 days).
    expect([vars.JOBS_RETENTION_DAYS, tf.output.JOBS_RETENTION_DAYS.value]).toEqual([
      String(env.storage.expireInputsAfterDays),
      env.storage.expireInputsAfterDays,
    ]);
    const db = nameOf(tf, 'aws_db_instance', 'database/instance');
    expect(vars.JOBS_DATABASE_SECRET_ARN).toBe(`\${aws_db_instance.${db}.master_user_secret[0].secret_arn}`);
    expect(vars.DATABASE_URL).toBe(
      `postgresql://jobs@${ref('aws_db_instance', db, 'address')}:5432/jobs?sslmode=verify-full`,
    );
    // Every JOBS_ variable is one the application reads (.env.example lists them all)…
    const example = fs.readFileSync(path.join(packageRoot(), '.env.example'), 'utf8');
    for (const key of Object.keys(vars).filter((k) => k.startsWith('JOBS_') || k === 'DATABASE_URL')) {
      expect(example).toMatch(new RegExp(`^${key}=`, 'm'));
    }
    // …and, with Terraform's references filled in, loadConfig accepts them and sees the stack.
    const filled = Object.fromEntries(
      Object.entries(vars).map(([k, v]) => [
        k,
        v
          .replace(/\$\{aws_db_instance\.[^}]+\.address\}/, 'db.internal')
          .replace(/\$\{aws_sqs_queue\.[^}]+\.url\}/, 'https://sqs.eu-west-1.amazonaws.com/123456789012/q')
          .replace(
            /\$\{aws_db_instance\.[^}]+\.secret_arn\}/,
            'arn:aws:secretsmanager:eu-west-1:123456789012:secret:rds!db-1',
          )
          .replace(/\$\{aws_s3_bucket\.[^}]+\.bucket\}/, 'jobs-inputs-1')
          .replace(/\$\{aws_kms_key\.[^}]+\.arn\}/, 'arn:aws:kms:eu-west-1:123456789012:key/1'),
      ]),
    );
    const config = loadConfig(filled);
    expect(config).toMatchObject({
      databaseUrl: 'postgresql://jobs@db.internal:5432/jobs?sslmode=verify-full',
      databaseSecretArn: 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:rds!db-1',
      s3Bucket: 'jobs-inputs-1',
      sqsQueueUrl: 'https://sqs.eu-west-1.amazonaws.com/123456789012/q',
      visibilityTimeoutSeconds: 6 * env.processor.timeoutSeconds,
      maxReceives: env.queue.maxReceiveCount,
      logLevel: env.processor.logLevel,
    });
    expect(config.s3KmsKeyId !== undefined).toBe(env.storage.encryption.kind === 'KMS');
  });

  it('database: RDS PostgreSQL, encrypted, private, backed up; deletion protection in prod', () => {
    const db = only(tf, 'aws_db_instance');
    const c = env.database as Extract<EnvironmentConfig['database'], { instanceClass: string }>;
    expect(db).toMatchObject({
      engine: 'postgres',
      engine_version: c.engineVersion,
      instance_class: c.instanceClass,
      storage_encrypted: true,
      publicly_accessible: false,
      manage_master_user_password: true,
      backup_retention_period: c.backupRetentionDays,
      deletion_protection: name === 'prod',
      performance_insights_enabled: name === 'prod',
      multi_az: c.multiAz,
    });
    expect(db.password).toBeUndefined(); // RDS generates and keeps it; never in Terraform state
    expect(db.backup_retention_period).toBeGreaterThan(0);
    expect(only(tf, 'aws_db_subnet_group').subnet_ids).toHaveLength(resources(tf, 'aws_subnet').length);
  });

  it('IAM: the Lambda reads inputs, consumes its queue, reads its secret, writes its logs; "*" only for VPC ENIs', () => {
    const bucketArn = ref('aws_s3_bucket', nameOf(tf, 'aws_s3_bucket', 'storage/bucket'), 'arn');
    const queueArn = ref('aws_sqs_queue', nameOf(tf, 'aws_sqs_queue', 'queue/queue'), 'arn');
    const priorityQueueArn = ref('aws_sqs_queue', nameOf(tf, 'aws_sqs_queue', 'queue/priority-queue'), 'arn');
    const logsArn = ref(
      'aws_cloudwatch_log_group',
      nameOf(tf, 'aws_cloudwatch_log_group', 'processor/logs'),
      'arn',
    );
    const db = nameOf(tf, 'aws_db_instance', 'database/instance');
    const statements = policyOf(
      tf.resource.aws_iam_role_policy[nameOf(tf, 'aws_iam_role_policy', 'processor/policy')],
    ).Statement;
    const expected: Block[] = [
      {
        Sid: 'ReadInputs',
        Effect: 'Allow',
        Action: ['s3:GetObject', 's3:DeleteObject'],
        Resource: `${bucketArn}/inputs/*`,
      },
      {
        Sid: 'WriteOutputs',
        Effect: 'Allow',
        Action: ['s3:PutObject', 's3:AbortMultipartUpload', 's3:GetObject', 's3:DeleteObject'],
        Resource: `${bucketArn}/outputs/*`,
      },
      {
        Sid: 'ConsumeQueue',
        Effect: 'Allow',
        Action: [
          'sqs:ReceiveMessage',
          'sqs:DeleteMessage',
          'sqs:ChangeMessageVisibility',
          'sqs:GetQueueAttributes',
        ],
        Resource: [queueArn, priorityQueueArn],
      },
      {
        Sid: 'ReadDatabaseSecret',
        Effect: 'Allow',
        Action: 'secretsmanager:GetSecretValue',
        Resource: `\${aws_db_instance.${db}.master_user_secret[0].secret_arn}`,
      },
      {
        Sid: 'WriteOwnLogs',
        Effect: 'Allow',
        Action: ['logs:CreateLogStream', 'logs:PutLogEvents'],
        Resource: `${logsArn}:*`,
      },
      { Sid: 'VpcNetworkInterfaces', Effect: 'Allow', Action: VPC_ENI_ACTIONS, Resource: '*' },
    ];
    if (env.storage.encryption.kind === 'KMS') {
      const key = ref('aws_kms_key', nameOf(tf, 'aws_kms_key', 'storage/key'), 'arn');
      expected.push({
        Sid: 'DecryptInputs',
        Effect: 'Allow',
        Action: ['kms:GenerateDataKey', 'kms:Decrypt'],
        Resource: key,
      });
    }
    expect(statements).toEqual(expected);
    const role = tf.resource.aws_iam_role[nameOf(tf, 'aws_iam_role', 'processor/role')];
    expect(JSON.parse(role.assume_role_policy).Statement).toEqual([
      { Effect: 'Allow', Principal: { Service: 'lambda.amazonaws.com' }, Action: 'sts:AssumeRole' },
    ]);
    expect(tf.resource.aws_iam_role_policy_attachment).toBeUndefined(); // no managed policies
  });

  it('schedules: EventBridge Scheduler invokes the processor every minute with the tick event; its role may invoke only that', () => {
    const one = (v: Block | Block[]) => (Array.isArray(v) ? v[0] : v);
    const fnArn = ref('aws_lambda_function', nameOf(tf, 'aws_lambda_function', 'processor/function'), 'arn');
    const role = nameOf(tf, 'aws_iam_role', 'schedule-trigger/role');
    const schedule = only(tf, 'aws_scheduler_schedule');
    expect(schedule).toMatchObject({
      name: `jobs-${name}-schedules-tick`,
      schedule_expression: 'rate(1 minute)',
    });
    expect(one(schedule.flexible_time_window)).toEqual({ mode: 'OFF' });
    const target = one(schedule.target);
    expect(target).toMatchObject({ arn: fnArn, role_arn: ref('aws_iam_role', role, 'arn') });
    expect(JSON.parse(target.input)).toEqual(SCHEDULE_TICK_EVENT);
    expect(one(target.retry_policy)).toEqual({ maximum_retry_attempts: 0, maximum_event_age_in_seconds: 60 });
    const statements = policyOf(
      tf.resource.aws_iam_role_policy[nameOf(tf, 'aws_iam_role_policy', 'schedule-trigger/policy')],
    ).Statement;
    expect(statements).toEqual([
      { Sid: 'InvokeProcessor', Effect: 'Allow', Action: 'lambda:InvokeFunction', Resource: fnArn },
    ]);
    const account = `\${data.aws_caller_identity.${Object.keys(tf.data.aws_caller_identity)[0]}.account_id}`;
    const partition = `\${data.aws_partition.${Object.keys(tf.data.aws_partition)[0]}.partition}`;
    const [trust] = JSON.parse(tf.resource.aws_iam_role[role].assume_role_policy).Statement;
    expect(trust).toEqual({
      Effect: 'Allow',
      Principal: { Service: 'scheduler.amazonaws.com' },
      Action: 'sts:AssumeRole',
      Condition: {
        StringEquals: {
          'aws:SourceAccount': account,
          'aws:SourceArn': `arn:${partition}:scheduler:${env.region}:${account}:schedule/default/jobs-${name}-schedules-tick`,
        },
      },
    });
    // Nobody else may invoke the function: no resource policy on it.
    expect(tf.resource.aws_lambda_permission).toBeUndefined();
  });

  it('IAM: the API hosts may make the calls the server makes (inputs under inputs/, send, dead letters), nothing else', () => {
    const bucketArn = ref('aws_s3_bucket', nameOf(tf, 'aws_s3_bucket', 'storage/bucket'), 'arn');
    const queueArn = ref('aws_sqs_queue', nameOf(tf, 'aws_sqs_queue', 'queue/queue'), 'arn');
    const priorityQueueArn = ref('aws_sqs_queue', nameOf(tf, 'aws_sqs_queue', 'queue/priority-queue'), 'arn');
    const dlqArn = ref('aws_sqs_queue', nameOf(tf, 'aws_sqs_queue', 'queue/dlq'), 'arn');
    const statements = policyOf(
      tf.resource.aws_iam_role_policy[nameOf(tf, 'aws_iam_role_policy', 'api-host/policy')],
    ).Statement;
    const expected: Block[] = [
      {
        Sid: 'StoreInputs',
        Effect: 'Allow',
        Action: ['s3:PutObject', 's3:AbortMultipartUpload', 's3:GetObject', 's3:DeleteObject'],
        Resource: `${bucketArn}/inputs/*`,
      },
      {
        Sid: 'ServeOutputs',
        Effect: 'Allow',
        Action: ['s3:GetObject', 's3:DeleteObject'],
        Resource: `${bucketArn}/outputs/*`,
      },
      { Sid: 'CheckBucket', Effect: 'Allow', Action: 's3:ListBucket', Resource: bucketArn },
      {
        Sid: 'SendJobs',
        Effect: 'Allow',
        Action: ['sqs:SendMessage', 'sqs:GetQueueAttributes'],
        Resource: [queueArn, priorityQueueArn],
      },
      {
        Sid: 'RedriveDeadLetters',
        Effect: 'Allow',
        Action: ['sqs:ReceiveMessage', 'sqs:DeleteMessage', 'sqs:GetQueueAttributes'],
        Resource: dlqArn,
      },
    ];
    if (env.storage.encryption.kind === 'KMS') {
      const key = ref('aws_kms_key', nameOf(tf, 'aws_kms_key', 'storage/key'), 'arn');
      expected.push({
        Sid: 'EncryptInputs',
        Effect: 'Allow',
        Action: ['kms:GenerateDataKey', 'kms:Decrypt'],
        Resource: key,
      });
    }
    expect(statements).toEqual(expected);
    const role = nameOf(tf, 'aws_iam_role', 'api-host/role');
    expect(JSON.parse(tf.resource.aws_iam_role[role].assume_role_policy).Statement[0].Principal).toEqual({
      Service: 'ec2.amazonaws.com',
    });
    expect(only(tf, 'aws_iam_instance_profile').role).toBe(ref('aws_iam_role', role, 'name'));
  });

  it('monitoring: an SNS topic mailed to the config address, the six alarms on it, a dashboard', () => {
    const topic = ref('aws_sns_topic', nameOf(tf, 'aws_sns_topic', 'monitoring/alarms'), 'arn');
    expect(only(tf, 'aws_sns_topic_subscription')).toMatchObject({
      topic_arn: topic,
      protocol: 'email',
      endpoint: env.monitoring.alarmEmail,
    });
    const queueName = (suffix: string) => ref('aws_sqs_queue', nameOf(tf, 'aws_sqs_queue', suffix), 'name');
    const fnName = ref(
      'aws_lambda_function',
      nameOf(tf, 'aws_lambda_function', 'processor/function'),
      'function_name',
    );
    const alarms = resources(tf, 'aws_cloudwatch_metric_alarm').map((a) => {
      expect(a.alarm_actions).toEqual([topic]);
      expect(a.comparison_operator).toBe('GreaterThanThreshold');
      return [a.namespace, a.metric_name, Object.values(a.dimensions)[0], a.threshold];
    });
    const ratio = env.monitoring.durationAlarmRatio ?? 0.8;
    expect(alarms.sort()).toEqual(
      [
        ['AWS/SQS', 'ApproximateNumberOfMessagesVisible', queueName('queue/dlq'), 0],
        [
          'AWS/SQS',
          'ApproximateAgeOfOldestMessage',
          queueName('queue/queue'),
          env.monitoring.oldestMessageAgeAlarmSeconds,
        ],
        [
          'AWS/SQS',
          'ApproximateAgeOfOldestMessage',
          queueName('queue/priority-queue'),
          env.monitoring.oldestMessageAgeAlarmSeconds,
        ],
        ['AWS/Lambda', 'Errors', fnName, 0],
        ['AWS/Lambda', 'Throttles', fnName, 0],
        ['AWS/Lambda', 'Duration', fnName, env.processor.timeoutSeconds * 1000 * ratio],
      ].sort(),
    );
    const body = JSON.parse(only(tf, 'aws_cloudwatch_dashboard').dashboard_body);
    expect(body.widgets.map((w: Block) => w.properties.title)).toEqual([
      'Queue depth',
      'Oldest message age (s)',
      'Dead letters',
      'Processor invocations',
      'Processor duration (ms)',
    ]);
  });

  it('outputs what the API hosts and `jobs doctor` need', () => {
    expect(Object.keys(tf.output)).toEqual(
      expect.arrayContaining([
        'JOBS_S3_BUCKET',
        'JOBS_SQS_QUEUE_URL',
        'JOBS_SQS_PRIORITY_QUEUE_URL',
        'JOBS_SQS_DLQ_URL',
        'JOBS_RETENTION_DAYS',
        'JOBS_LAMBDA_FUNCTION_NAME',
        'AWS_REGION',
        'api_host_instance_profile',
        'api_host_security_group_id',
        'private_subnet_ids',
      ]),
    );
  });

  it('logs and alarms: one customer-managed key, rotated, for CloudWatch Logs (these log groups only) and alarms', () => {
    const keyName = nameOf(tf, 'aws_kms_key', 'logs-key/cmk');
    const key = tf.resource.aws_kms_key[keyName];
    const keyArn = ref('aws_kms_key', keyName, 'arn');
    expect(key.enable_key_rotation).toBe(true);
    expect(key.deletion_window_in_days).toBe(30);
    const account = `\${data.aws_caller_identity.${Object.keys(tf.data.aws_caller_identity)[0]}.account_id}`;
    const partition = `\${data.aws_partition.${Object.keys(tf.data.aws_partition)[0]}.partition}`;
    const groupArn = (group: string) => `arn:${partition}:logs:${env.region}:${account}:log-group:${group}`;
    expect(policyOf({ policy: key.policy }).Statement).toEqual([
      {
        Sid: 'AccountAdministersThroughIam',
        Effect: 'Allow',
        Principal: { AWS: `arn:${partition}:iam::${account}:root` },
        Action: 'kms:*',
        Resource: '*',
      },
      {
        Sid: 'CloudWatchLogsEncryptsTheLogGroups',
        Effect: 'Allow',
        Principal: { Service: `logs.${env.region}.amazonaws.com` },
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
            'kms:EncryptionContext:aws:logs:arn': [
              groupArn(`/aws/lambda/jobs-${name}-processor`),
              groupArn(`/aws/vpc/jobs-${name}-flow-logs`),
            ],
          },
        },
      },
      {
        Sid: 'CloudWatchAlarmsPublishToTheTopic',
        Effect: 'Allow',
        Principal: { Service: 'cloudwatch.amazonaws.com' },
        Action: ['kms:GenerateDataKey', 'kms:Decrypt'],
        Resource: '*',
      },
    ]);
    expect(only(tf, 'aws_kms_alias')).toEqual({
      name: `alias/jobs-${name}-logs`,
      target_key_id: ref('aws_kms_key', keyName, 'key_id'),
    });
    // Every log group, and the alarm topic, under that key; the names match the policy's.
    const groups = resources(tf, 'aws_cloudwatch_log_group');
    expect(groups.map((g) => g.name).sort()).toEqual(
      [`/aws/lambda/jobs-${name}-processor`, `/aws/vpc/jobs-${name}-flow-logs`].sort(),
    );
    for (const g of groups) expect(g.kms_key_id).toBe(keyArn);
    expect(only(tf, 'aws_sns_topic').kms_master_key_id).toBe(keyArn);
  });

  it('network: flow logs of all traffic to an encrypted log group, written by a role that may do only that', () => {
    const groupName = nameOf(tf, 'aws_cloudwatch_log_group', 'network/flow-logs');
    const group = tf.resource.aws_cloudwatch_log_group[groupName];
    const groupArn = ref('aws_cloudwatch_log_group', groupName, 'arn');
    expect(group).toMatchObject({ name: `/aws/vpc/jobs-${name}-flow-logs`, retention_in_days: 90 });
    const role = nameOf(tf, 'aws_iam_role', 'network/flow-logs-role');
    expect(only(tf, 'aws_flow_log')).toMatchObject({
      vpc_id: ref('aws_vpc', Object.keys(tf.resource.aws_vpc)[0], 'id'),
      traffic_type: 'ALL',
      log_destination_type: 'cloud-watch-logs',
      log_destination: groupArn,
      iam_role_arn: ref('aws_iam_role', role, 'arn'),
    });
    const [trust] = JSON.parse(tf.resource.aws_iam_role[role].assume_role_policy).Statement;
    expect(trust).toMatchObject({
      Principal: { Service: 'vpc-flow-logs.amazonaws.com' },
      Action: 'sts:AssumeRole',
      Condition: {
        StringEquals: { 'aws:SourceAccount': expect.stringContaining('aws_caller_identity') },
        ArnLike: { 'aws:SourceArn': expect.stringMatching(/:vpc-flow-log\/\*$/) },
      },
    });
    const policy =
      tf.resource.aws_iam_role_policy[nameOf(tf, 'aws_iam_role_policy', 'network/flow-logs-policy')];
    expect(policyOf(policy).Statement).toEqual([
      {
        Sid: 'WriteFlowLogs',
        Effect: 'Allow',
        Action: ['logs:CreateLogStream', 'logs:PutLogEvents', 'logs:DescribeLogStreams'],
        Resource: `${groupArn}:*`,
      },
      { Sid: 'FindTheLogGroup', Effect: 'Allow', Action: 'logs:DescribeLogGroups', Resource: groupArn },
    ]);
  });

  it('storage: server access logs go to a bucket of their own, private, encrypted, expiring, written only by S3 logging', () => {
    const inputs = nameOf(tf, 'aws_s3_bucket', 'storage/bucket');
    const logs = nameOf(tf, 'aws_s3_bucket', 'access-logs/bucket');
    const logsId = ref('aws_s3_bucket', logs, 'id');
    const logsArn = ref('aws_s3_bucket', logs, 'arn');
    const at = (type: string, path: string) => tf.resource[type][nameOf(tf, type, path)];
    expect(tf.resource.aws_s3_bucket[logs]).toMatchObject({
      bucket_prefix: `jobs-${name}-access-logs-`,
      force_destroy: env.storage.forceDestroy ?? false,
    });
    expect(only(tf, 'aws_s3_bucket_logging')).toMatchObject({
      bucket: ref('aws_s3_bucket', inputs, 'id'),
      target_bucket: logsId,
      target_prefix: 'inputs-bucket/',
    });
    expect(at('aws_s3_bucket_server_side_encryption_configuration', 'access-logs/encryption')).toEqual({
      bucket: logsId,
      rule: [
        { apply_server_side_encryption_by_default: { sse_algorithm: 'AES256' }, bucket_key_enabled: true },
      ],
    });
    expect(at('aws_s3_bucket_public_access_block', 'access-logs/public-access-block')).toMatchObject({
      bucket: logsId,
      block_public_acls: true,
      block_public_policy: true,
      ignore_public_acls: true,
      restrict_public_buckets: true,
    });
    expect(at('aws_s3_bucket_ownership_controls', 'access-logs/ownership').rule.object_ownership).toBe(
      'BucketOwnerEnforced',
    );
    expect(at('aws_s3_bucket_lifecycle_configuration', 'access-logs/lifecycle').rule[0]).toMatchObject({
      status: 'Enabled',
      expiration: [{ days: env.storage.accessLogRetentionDays ?? 90 }],
    });
    expect(policyOf(at('aws_s3_bucket_policy', 'access-logs/policy')).Statement).toEqual([
      {
        Sid: 'S3ServerAccessLogDelivery',
        Effect: 'Allow',
        Principal: { Service: 'logging.s3.amazonaws.com' },
        Action: 's3:PutObject',
        Resource: `${logsArn}/inputs-bucket/*`,
        Condition: {
          ArnLike: { 'aws:SourceArn': ref('aws_s3_bucket', inputs, 'arn') },
          StringEquals: { 'aws:SourceAccount': expect.stringContaining('aws_caller_identity') },
        },
      },
      expect.objectContaining({
        Sid: 'DenyInsecureTransport',
        Effect: 'Deny',
        Resource: [logsArn, `${logsArn}/*`],
      }),
    ]);
  });

  it('database: its security group says who may reach it, and is replaced before the old one goes', () => {
    const sg = tf.resource.aws_security_group[nameOf(tf, 'aws_security_group', 'database/sg')];
    expect(sg.description).toBe(
      'jobs PostgreSQL: reachable on its port from the processor and the API hosts only',
    );
    expect(sg.name_prefix).toBe(`jobs-${name}-database-`);
    expect(sg.lifecycle).toEqual({ create_before_destroy: true });
    // The description is what the rules say: ingress only from those two groups.
    const dbSg = ref('aws_security_group', nameOf(tf, 'aws_security_group', 'database/sg'), 'id');
    const from = resources(tf, 'aws_vpc_security_group_ingress_rule')
      .filter((r) => r.security_group_id === dbSg)
      .map((r) => r.referenced_security_group_id)
      .sort();
    expect(from).toEqual(
      ['network/lambda-sg', 'network/api-host-sg']
        .map((p) => ref('aws_security_group', nameOf(tf, 'aws_security_group', p), 'id'))
        .sort(),
    );
  });

  it('matches its snapshot (asset hashes scrubbed)', () => {
    expect(scrub(tf)).toMatchSnapshot();
  });
});

describe('environment options', () => {
  it('reuses an existing VPC, subnets and database when their ids are given', () => {
    const env: EnvironmentConfig = {
      ...qa,
      network: {
        existingVpcId: 'vpc-0abc',
        existingPrivateSubnetIds: ['subnet-1', 'subnet-2'],
        existingRouteTableIds: ['rtb-1'],
      },
      database: {
        existing: {
          host: 'db.example.internal',
          port: 6432,
          name: 'jobsdb',
          username: 'app',
          securityGroupId: 'sg-0db',
          secretArn: 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:jobs-db-AbCdEf',
        },
      },
    };
    const tf = synthStack(env);
    for (const type of [
      'aws_vpc',
      'aws_subnet',
      'aws_route_table',
      'aws_db_instance',
      'aws_db_subnet_group',
    ]) {
      expect(tf.resource[type]).toBeUndefined();
    }
    const s3 = resources(tf, 'aws_vpc_endpoint').find((e) => e.vpc_endpoint_type === 'Gateway')!;
    expect(s3).toMatchObject({ vpc_id: 'vpc-0abc', route_table_ids: ['rtb-1'] });
    const fn = only(tf, 'aws_lambda_function');
    expect(fn.vpc_config.subnet_ids).toEqual(['subnet-1', 'subnet-2']);
    expect(fn.environment.variables).toMatchObject({
      DATABASE_URL: 'postgresql://app@db.example.internal:6432/jobsdb?sslmode=verify-full',
      JOBS_DATABASE_SECRET_ARN: 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:jobs-db-AbCdEf',
    });
    // The existing database's group admits the processor and the API hosts on its port.
    const toDb = resources(tf, 'aws_vpc_security_group_ingress_rule').filter(
      (r) => r.security_group_id === 'sg-0db',
    );
    expect(toDb.map((r) => [r.from_port, r.to_port, r.referenced_security_group_id]).sort()).toEqual(
      [
        [6432, 6432, ref('aws_security_group', nameOf(tf, 'aws_security_group', 'network/lambda-sg'), 'id')],
        [
          6432,
          6432,
          ref('aws_security_group', nameOf(tf, 'aws_security_group', 'network/api-host-sg'), 'id'),
        ],
      ].sort(),
    );
  });

  it('webhookEgress: one NAT gateway behind an internet gateway, the private default route through it, 80/443 out', () => {
    const net = qa.network as { cidr: string; availabilityZones: string[] };
    const tf = synthStack({ ...qa, network: { ...net, webhookEgress: true } });
    const igw = ref('aws_internet_gateway', nameOf(tf, 'aws_internet_gateway', 'network/igw'), 'id');
    const nat = only(tf, 'aws_nat_gateway');
    const publicSubnet = ref('aws_subnet', nameOf(tf, 'aws_subnet', 'network/public-0'), 'id');
    expect(nat.subnet_id).toBe(publicSubnet);
    expect(nat.allocation_id).toBe(ref('aws_eip', nameOf(tf, 'aws_eip', 'network/nat-ip'), 'id'));
    const routes = resources(tf, 'aws_route');
    const natId = ref('aws_nat_gateway', nameOf(tf, 'aws_nat_gateway', 'network/nat'), 'id');
    expect(routes.map((r) => [r.destination_cidr_block, r.gateway_id ?? r.nat_gateway_id]).sort()).toEqual(
      [
        ['0.0.0.0/0', igw],
        ['0.0.0.0/0', natId],
      ].sort(),
    );
    // The private subnets stay private: no public IPs; only the NAT's subnet routes to the gateway.
    for (const s of resources(tf, 'aws_subnet')) expect(s.map_public_ip_on_launch).toBe(false);
    const out = resources(tf, 'aws_vpc_security_group_egress_rule').filter(
      (r) => r.cidr_ipv4 === '0.0.0.0/0',
    );
    const sgRef = (path: string) => ref('aws_security_group', nameOf(tf, 'aws_security_group', path), 'id');
    expect(out.map((r) => [r.security_group_id, r.from_port, r.to_port]).sort()).toEqual(
      [sgRef('network/lambda-sg'), sgRef('network/api-host-sg')]
        .flatMap((sg) => [
          [sg, 443, 443],
          [sg, 80, 80],
        ])
        .sort(),
    );
    // In an existing VPC it opens the ports and adds no gateway (the VPC's routes are its owner's).
    const existing = synthStack({
      ...qa,
      network: {
        existingVpcId: 'vpc-0abc',
        existingPrivateSubnetIds: ['subnet-1', 'subnet-2'],
        existingRouteTableIds: ['rtb-1'],
        webhookEgress: true,
      },
    });
    expect(existing.resource.aws_nat_gateway).toBeUndefined();
    expect(existing.resource.aws_internet_gateway).toBeUndefined();
    expect(
      resources(existing, 'aws_vpc_security_group_egress_rule').filter((r) => r.cidr_ipv4 === '0.0.0.0/0'),
    ).toHaveLength(4);
  });

  it('keeps no flow logs for a VPC it did not create, and lets CloudWatch Logs use the key for the processor only', () => {
    const tf = synthStack({
      ...qa,
      network: {
        existingVpcId: 'vpc-0abc',
        existingPrivateSubnetIds: ['subnet-1', 'subnet-2'],
        existingRouteTableIds: ['rtb-1'],
      },
    });
    expect(tf.resource.aws_flow_log).toBeUndefined();
    expect(resources(tf, 'aws_cloudwatch_log_group').map((g) => g.name)).toEqual([
      '/aws/lambda/jobs-qa-processor',
    ]);
    const logs = JSON.parse(only(tf, 'aws_kms_key').policy).Statement[1];
    expect(logs.Condition.ArnEquals['kms:EncryptionContext:aws:logs:arn']).toEqual([
      expect.stringMatching(/:log-group:\/aws\/lambda\/jobs-qa-processor$/),
    ]);
  });

  it('keeps state in S3 when the environment says so, locked by a lock file without a DynamoDB table', () => {
    const tf = synthStack({ ...qa, stateBackend: { bucket: 'tf-state', region: 'eu-west-1' } });
    expect(tf.terraform.backend).toEqual({
      s3: {
        bucket: 'tf-state',
        key: 'jobs/qa.tfstate',
        region: 'eu-west-1',
        encrypt: true,
        use_lockfile: true,
      },
    });
  });

  it('locks the state with a DynamoDB table, encrypts it with a KMS key, when the environment says so', () => {
    const tf = synthStack({
      ...qa,
      stateBackend: {
        bucket: 'tf-state',
        region: 'eu-west-1',
        dynamodbTable: 'tf-locks',
        kmsKeyId: 'alias/tf',
      },
    });
    expect(tf.terraform.backend).toEqual({
      s3: {
        bucket: 'tf-state',
        key: 'jobs/qa.tfstate',
        region: 'eu-west-1',
        encrypt: true,
        kms_key_id: 'alias/tf',
        dynamodb_table: 'tf-locks',
      },
    });
  });

  it('takes the state bucket, region and lock table from JOBS_STATE_* (stacks/main.ts) over the config', () => {
    const outdir = fs.mkdtempSync(path.join(os.tmpdir(), 'jobs-state-'));
    try {
      const { stacks } = synthesize(
        { environments: ['qa', 'prod'], outdir, processorZipPath: fixtureZip() },
        {
          JOBS_STATE_BUCKET: 'acme-tf-state',
          JOBS_STATE_REGION: 'us-east-2',
          JOBS_STATE_LOCK_TABLE: 'acme-locks',
        },
      );
      for (const s of stacks) {
        const backend = JSON.parse(fs.readFileSync(s.file, 'utf8')).terraform.backend;
        expect(backend).toEqual({
          s3: {
            bucket: 'acme-tf-state',
            key: `jobs/${s.environment}.tfstate`,
            region: 'us-east-2',
            encrypt: true,
            dynamodb_table: 'acme-locks',
          },
        });
      }
      // Without them, prod keeps its configured bucket and qa its local file.
      const plain = synthesize({ environments: ['qa', 'prod'], outdir, processorZipPath: fixtureZip() }, {});
      const backend = (i: number) =>
        JSON.parse(fs.readFileSync(plain.stacks[i].file, 'utf8')).terraform.backend;
      expect(Object.keys(backend(0))).toEqual(['local']);
      expect(backend(1).s3).toMatchObject({ bucket: prod.stateBackend!.bucket, use_lockfile: true });
    } finally {
      fs.rmSync(outdir, { recursive: true, force: true });
    }
  });

  it('refuses an environment that requires remote state but has no backend', () => {
    const { stateBackend: _, ...noBackend } = prod;
    expect(checkEnvironment(noBackend)).toEqual([
      'prod: stateBackend is required (requireRemoteState): set it in the config, or JOBS_STATE_BUCKET',
    ]);
    expect(() =>
      buildJobsApp({
        environments: ['prod'],
        outdir: '/nonexistent',
        processorZipPath: fixtureZip(),
        known: { prod: noBackend },
        stateBackend: { bucket: 'from-env' },
      }),
    ).not.toThrow();
  });

  it('sends alarms to JOBS_ALARM_EMAIL when given instead of the config address', () => {
    const tf = synthStack(qa, { alarmEmail: 'oncall@example.org' });
    expect(only(tf, 'aws_sns_topic_subscription').endpoint).toBe('oncall@example.org');
  });

  it('checks configurations and names each problem', () => {
    expect(Object.values(environments).flatMap(checkEnvironment)).toEqual([]);
    const bad: EnvironmentConfig = {
      ...qa,
      queue: { maxReceiveCount: 3, visibilityTimeoutSeconds: 300 },
      processor: { ...qa.processor, maximumConcurrency: 50 },
      storage: { ...qa.storage, retentionDays: 8 },
    };
    expect(checkEnvironment(bad)).toEqual([
      'qa: processor.maximumConcurrency must not exceed reservedConcurrency, or messages are throttled back to the queue',
      'qa: queue.maxReceiveCount must be at least 5',
      'qa: queue.visibilityTimeoutSeconds (300) must be at least 6 × processor.timeoutSeconds (720)',
      'qa: storage.retentionDays (8) must be between 1 and storage.expireInputsAfterDays (7)',
    ]);
    expect(() =>
      buildJobsApp({
        environments: ['qa'],
        outdir: '/nonexistent',
        processorZipPath: fixtureZip(),
        known: { qa: bad },
      }),
    ).toThrow(StackConfigError);
    expect(() =>
      buildJobsApp({ environments: ['staging'], outdir: '/x', processorZipPath: fixtureZip() }),
    ).toThrow('unknown environment "staging"; known: qa, prod');
  });
});

export type { TfJson };
