import path from 'node:path';
import { DataAwsCallerIdentity } from '@cdktf/provider-aws/lib/data-aws-caller-identity/index.js';
import { DataAwsPartition } from '@cdktf/provider-aws/lib/data-aws-partition/index.js';
import { AwsProvider } from '@cdktf/provider-aws/lib/provider/index.js';
import { Fn, LocalBackend, S3Backend, TerraformOutput, TerraformStack } from 'cdktf';
import type { Construct } from 'constructs';
import { visibilityTimeoutOf } from './config/index.js';
import type { EnvironmentConfig } from './config/types.js';
import { AccessLogBucket } from './access-logs.js';
import { ApiHostRole } from './api-host.js';
import { Database } from './database.js';
import { LogsKey } from './logs-key.js';
import { Monitoring } from './monitoring.js';
import { flowLogGroupName, Network } from './network.js';
import { Processor, processorLogGroupName } from './processor.js';
import { ScheduleTrigger } from './schedule-trigger.js';
import { JobQueue } from './queue.js';
import { InputBucket } from './storage.js';

export interface JobsStackOptions {
  environment: EnvironmentConfig;
  /** The processor bundle (dist-lambda/processor.zip). */
  processorZipPath: string;
  /** Overrides the environment's alarm address (JOBS_ALARM_EMAIL). */
  alarmEmail?: string;
  /**
   * Directory of the local state file when the environment has no `stateBackend`, relative to
   * the stack's synthesized directory (Terraform runs there). Default: three levels up, the
   * directory holding cdktf.out; `jobs synth` passes the directory it runs in.
   */
  localStateDir?: string;
}

/**
 * One environment of jobs: network, input bucket (and its access log bucket), queue, database,
 * processor Lambda (and the schedule trigger invoking it every minute), the API hosts' role and
 * monitoring, and the KMS key of its logs and alarms.
 * Its outputs are the values the API hosts and `jobs doctor` need.
 */
export class JobsStack extends TerraformStack {
  readonly environment: EnvironmentConfig;
  readonly logsKey: LogsKey;
  readonly accessLogs: AccessLogBucket;
  readonly network: Network;
  readonly storage: InputBucket;
  readonly queue: JobQueue;
  readonly database: Database;
  readonly processor: Processor;
  /** EventBridge Scheduler invoking the processor every minute to tick cron schedules. */
  readonly scheduleTrigger: ScheduleTrigger;
  readonly apiHost: ApiHostRole;
  readonly monitoring: Monitoring;

  constructor(scope: Construct, id: string, opts: JobsStackOptions) {
    super(scope, id);
    const env = opts.environment;
    this.environment = env;
    const prefix = `jobs-${env.name}`;

    new AwsProvider(this, 'aws', {
      region: env.region,
      defaultTags: [{ tags: { 'managed-by': 'jobs-cdktf', ...env.tags } }],
    });
    if (env.stateBackend) {
      const b = new S3Backend(this, {
        bucket: env.stateBackend.bucket,
        key: env.stateBackend.key ?? `jobs/${env.name}.tfstate`,
        region: env.stateBackend.region,
        encrypt: true,
        kmsKeyId: env.stateBackend.kmsKeyId,
        dynamodbTable: env.stateBackend.dynamodbTable,
      });
      // Terraform ≥ 1.10 locks with an S3 object when there is no DynamoDB table.
      if (!env.stateBackend.dynamodbTable) b.addOverride('use_lockfile', true);
    } else {
      new LocalBackend(this, {
        path: path.posix.join(opts.localStateDir ?? '../../..', `terraform.${id}.tfstate`),
      });
    }

    const account = new DataAwsCallerIdentity(this, 'account').accountId;
    const partition = new DataAwsPartition(this, 'partition').partition;
    const ownVpc = 'cidr' in env.network;
    this.logsKey = new LogsKey(this, 'logs-key', {
      prefix,
      region: env.region,
      account,
      partition,
      logGroupNames: [processorLogGroupName(prefix), ...(ownVpc ? [flowLogGroupName(prefix)] : [])],
    });
    this.network = new Network(this, 'network', {
      prefix,
      region: env.region,
      config: env.network,
      flowLogs: { kmsKeyArn: this.logsKey.arn, account, partition },
    });
    this.storage = new InputBucket(this, 'storage', {
      prefix,
      config: env.storage,
      retentionDays: env.storage.retentionDays ?? env.storage.expireInputsAfterDays,
    });
    this.accessLogs = new AccessLogBucket(this, 'access-logs', {
      prefix,
      account,
      source: { id: this.storage.bucket.id, arn: this.storage.bucket.arn },
      retentionDays: env.storage.accessLogRetentionDays,
      forceDestroy: env.storage.forceDestroy,
    });
    const visibilityTimeoutSeconds = visibilityTimeoutOf(env);
    this.queue = new JobQueue(this, 'queue', {
      prefix,
      maxReceiveCount: env.queue.maxReceiveCount,
      visibilityTimeoutSeconds,
      messageRetentionSeconds: env.queue.messageRetentionSeconds,
    });
    this.database = new Database(this, 'database', {
      prefix,
      vpcId: this.network.vpcId,
      subnetIds: this.network.privateSubnetIds,
      config: env.database,
    });
    this.network.allowDatabase(this.database.securityGroupId, this.database.port);

    const bucket = {
      name: this.storage.bucket.bucket,
      arn: this.storage.bucket.arn,
      kmsKeyArn: this.storage.kmsKeyArn,
    };
    this.processor = new Processor(this, 'processor', {
      prefix,
      config: env.processor,
      zipPath: opts.processorZipPath,
      subnetIds: this.network.privateSubnetIds,
      securityGroupId: this.network.lambdaSecurityGroupId,
      bucket,
      queue: {
        arn: this.queue.queue.arn,
        url: this.queue.queue.url,
        visibilityTimeoutSeconds,
        maxReceiveCount: env.queue.maxReceiveCount,
      },
      priorityQueue: { arn: this.queue.priorityQueue.arn, url: this.queue.priorityQueue.url },
      database: this.database,
      logsKmsKeyArn: this.logsKey.arn,
      retentionDays: env.storage.retentionDays ?? env.storage.expireInputsAfterDays,
    });
    this.scheduleTrigger = new ScheduleTrigger(this, 'schedule-trigger', {
      prefix,
      region: env.region,
      account,
      partition,
      function: { arn: this.processor.function.arn },
    });
    this.apiHost = new ApiHostRole(this, 'api-host', {
      prefix,
      bucket,
      queue: { arn: this.queue.queue.arn },
      priorityQueue: { arn: this.queue.priorityQueue.arn },
      dlq: { arn: this.queue.dlq.arn },
    });
    this.monitoring = new Monitoring(this, 'monitoring', {
      prefix,
      region: env.region,
      alarmEmail: opts.alarmEmail ?? env.monitoring.alarmEmail,
      queueName: this.queue.queue.name,
      priorityQueueName: this.queue.priorityQueue.name,
      dlqName: this.queue.dlq.name,
      functionName: this.processor.function.functionName,
      functionTimeoutSeconds: env.processor.timeoutSeconds,
      oldestMessageAgeAlarmSeconds: env.monitoring.oldestMessageAgeAlarmSeconds,
      kmsKeyArn: this.logsKey.arn,
      durationAlarmRatio: env.monitoring.durationAlarmRatio,
    });

    // What the API hosts' environment and `jobs doctor` need (README "Deploy to AWS").
    const out = (name: string, value: string | number, description: string) =>
      new TerraformOutput(this, name, { value, description });
    out('JOBS_S3_BUCKET', bucket.name, 'input bucket');
    if (bucket.kmsKeyArn) out('JOBS_S3_KMS_KEY_ID', bucket.kmsKeyArn, 'KMS key of the inputs');
    out('JOBS_SQS_QUEUE_URL', this.queue.queue.url, 'job queue');
    out('JOBS_SQS_PRIORITY_QUEUE_URL', this.queue.priorityQueue.url, 'queue of jobs with a priority above 0');
    out(
      'JOBS_RETENTION_DAYS',
      env.storage.retentionDays ?? env.storage.expireInputsAfterDays,
      'days finished jobs are kept (agrees with the input bucket lifecycle rule)',
    );
    out('JOBS_SQS_DLQ_URL', this.queue.dlq.url, 'dead-letter queue');
    out('JOBS_VISIBILITY_TIMEOUT_SECONDS', visibilityTimeoutSeconds, "the queue's visibility timeout");
    out('JOBS_MAX_RECEIVES', env.queue.maxReceiveCount, "the queue's maxReceiveCount");
    out('JOBS_LAMBDA_FUNCTION_NAME', this.processor.function.functionName, 'processor function');
    out('AWS_REGION', env.region, 'region');
    out('database_host', this.database.host, 'PostgreSQL host (private)');
    out('database_secret_arn', this.database.secretArn, 'secret with the database password');
    out('api_host_instance_profile', this.apiHost.instanceProfile.name, 'instance profile for API hosts');
    out('api_host_security_group_id', this.network.apiHostSecurityGroupId, 'security group for API hosts');
    out('private_subnet_ids', Fn.join(',', this.network.privateSubnetIds), 'subnets for API hosts');
    out('alarm_topic_arn', this.monitoring.topic.arn, 'SNS topic of the alarms');
  }
}
