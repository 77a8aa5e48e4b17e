import { CloudwatchLogGroup } from '@cdktf/provider-aws/lib/cloudwatch-log-group/index.js';
import { IamRole } from '@cdktf/provider-aws/lib/iam-role/index.js';
import { IamRolePolicy } from '@cdktf/provider-aws/lib/iam-role-policy/index.js';
import { LambdaEventSourceMapping } from '@cdktf/provider-aws/lib/lambda-event-source-mapping/index.js';
import { LambdaFunction } from '@cdktf/provider-aws/lib/lambda-function/index.js';
import { AssetType, Fn, TerraformAsset } from 'cdktf';
import { Construct } from 'constructs';
import type { ProcessorConfig } from './config/types.js';
import { assumeRolePolicy, policyDocument, type PolicyStatement } from './policy-document.js';
import { INPUT_PREFIX, OUTPUT_PREFIX } from './storage.js';

export interface ProcessorOptions {
  prefix: string;
  config: ProcessorConfig;
  /** The esbuild zip (`npm run build:lambda` → dist-lambda/processor.zip), copied as an asset. */
  zipPath: string;
  subnetIds: string[];
  securityGroupId: string;
  bucket: { name: string; arn: string; kmsKeyArn?: string };
  queue: { arn: string; url: string; visibilityTimeoutSeconds: number; maxReceiveCount: number };
  /** The queue of jobs with a priority above 0: consumed by a second event source mapping. */
  priorityQueue: { arn: string; url: string };
  database: { host: string; port: number; name: string; username: string; secretArn: string };
  /** KMS key of the function's log group (stacks/logs-key.ts). */
  logsKmsKeyArn: string;
  /** JOBS_RETENTION_DAYS (storage.retentionDays): agrees with the input bucket's lifecycle rule. */
  retentionDays: number;
}

/** The processor function's log group (its name is Lambda's default for the function). */
export const processorLogGroupName = (prefix: string) => `/aws/lambda/${prefix}-processor`;

/**
 * Actions Lambda needs to attach the function to the VPC (its elastic network interfaces).
 * AWS does not support resource-level permissions for them, so they are the only actions
 * granted on Resource "*" (this list is the policy test's allowed list too).
 */
export const VPC_ENI_ACTIONS = [
  'ec2:CreateNetworkInterface',
  'ec2:DescribeNetworkInterfaces',
  'ec2:DescribeSubnets',
  'ec2:DeleteNetworkInterface',
  'ec2:AssignPrivateIpAddresses',
  'ec2:UnassignPrivateIpAddresses',
];

/**
 * The processor: `processor/lambda.ts` bundled by esbuild, on Node.js 22 / arm64 in the
 * private subnets, fed by the job queue with partial batch failures. Its role may read inputs,
 * consume its queue, read its database secret and write its own logs, and nothing else.
 */
export class Processor extends Construct {
  readonly function: LambdaFunction;
  readonly logGroup: CloudwatchLogGroup;
  readonly role: IamRole;

  constructor(scope: Construct, id: string, opts: ProcessorOptions) {
    super(scope, id);
    const { prefix, config, bucket, queue, priorityQueue, database } = opts;
    const functionName = `${prefix}-processor`;

    this.logGroup = new CloudwatchLogGroup(this, 'logs', {
      name: processorLogGroupName(prefix),
      retentionInDays: config.logRetentionDays,
      // Job logs may quote input rows: encrypted with the environment's key, not only AWS's.
      kmsKeyId: opts.logsKmsKeyArn,
    });

    this.role = new IamRole(this, 'role', {
      name: functionName,
      assumeRolePolicy: assumeRolePolicy('lambda.amazonaws.com'),
    });

    const statements: PolicyStatement[] = [
      {
        // Read by the handlers; deleted by retention (the schedule tick) with their jobs.
        Sid: 'ReadInputs',
        Effect: 'Allow',
        Action: ['s3:GetObject', 's3:DeleteObject'],
        Resource: `${bucket.arn}/${INPUT_PREFIX}*`,
      },
      {
        // Handlers' outputs (ctx.outputs): written, their checksum copied on (CopyObject reads
        // with GetObject), and deleted when an attempt is retried or retention removes the job.
        Sid: 'WriteOutputs',
        Effect: 'Allow',
        Action: ['s3:PutObject', 's3:AbortMultipartUpload', 's3:GetObject', 's3:DeleteObject'],
        Resource: `${bucket.arn}/${OUTPUT_PREFIX}*`,
      },
      {
        Sid: 'ConsumeQueue',
        Effect: 'Allow',
        // GetQueueAttributes: the event source mapping checks the queue with the function's role.
        Action: [
          'sqs:ReceiveMessage',
          'sqs:DeleteMessage',
          'sqs:ChangeMessageVisibility',
          'sqs:GetQueueAttributes',
        ],
        Resource: [queue.arn, priorityQueue.arn],
      },
      {
        Sid: 'ReadDatabaseSecret',
        Effect: 'Allow',
        Action: 'secretsmanager:GetSecretValue',
        Resource: database.secretArn,
      },
      {
        Sid: 'WriteOwnLogs',
        Effect: 'Allow',
        Action: ['logs:CreateLogStream', 'logs:PutLogEvents'],
        Resource: `${this.logGroup.arn}:*`,
      },
      {
        Sid: 'VpcNetworkInterfaces',
        Effect: 'Allow',
        Action: VPC_ENI_ACTIONS,
        // AWS requires "*" here: these EC2 actions have no resource-level permissions.
        Resource: '*',
      },
    ];
    if (bucket.kmsKeyArn) {
      statements.push({
        Sid: 'DecryptInputs',
        Effect: 'Allow',
        // GenerateDataKey: writing outputs under the bucket's key.
        Action: ['kms:GenerateDataKey', 'kms:Decrypt'],
        Resource: bucket.kmsKeyArn,
      });
    }
    const policy = new IamRolePolicy(this, 'policy', {
      name: `${functionName}-least-privilege`,
      role: this.role.id,
      policy: policyDocument(statements),
    });

    const asset = new TerraformAsset(this, 'code', { path: opts.zipPath, type: AssetType.FILE });

    const environment: Record<string, string> = {
      // Without the password: the processor fills it in from JOBS_DATABASE_SECRET_ARN at cold start.
      DATABASE_URL: `postgresql://${database.username}@${database.host}:${database.port}/${database.name}?sslmode=verify-full`,
      JOBS_DATABASE_SECRET_ARN: database.secretArn,
      JOBS_S3_BUCKET: bucket.name,
      JOBS_SQS_QUEUE_URL: queue.url,
      // Tells its records' receipts apart (a receipt is only good with its own queue).
      JOBS_SQS_PRIORITY_QUEUE_URL: priorityQueue.url,
      // The lease of a claimed job matches the queue's visibility timeout, as README's
      // "Delivery guarantees" asks; a delivery's last receive is maxReceiveCount.
      JOBS_VISIBILITY_TIMEOUT_SECONDS: String(queue.visibilityTimeoutSeconds),
      JOBS_MAX_RECEIVES: String(queue.maxReceiveCount),
      JOBS_RETENTION_DAYS: String(opts.retentionDays),
      JOBS_LOG_LEVEL: config.logLevel ?? 'info',
      // Lambda's Node.js 20+ runtimes ship the RDS CA bundle here but no longer load it by default.
      NODE_EXTRA_CA_CERTS: '/var/runtime/ca-cert.pem',
    };
    if (bucket.kmsKeyArn) environment.JOBS_S3_KMS_KEY_ID = bucket.kmsKeyArn;

    this.function = new LambdaFunction(this, 'function', {
      functionName,
      description: 'jobs processor: runs queued jobs (processor/lambda.ts)',
      role: this.role.arn,
      runtime: 'nodejs22.x',
      architectures: ['arm64'],
      handler: 'index.handler',
      filename: asset.path,
      sourceCodeHash: Fn.filebase64sha256(asset.path),
      memorySize: config.memoryMb,
      timeout: config.timeoutSeconds,
      reservedConcurrentExecutions: config.reservedConcurrency,
      vpcConfig: { subnetIds: opts.subnetIds, securityGroupIds: [opts.securityGroupId] },
      loggingConfig: { logFormat: 'Text', logGroup: this.logGroup.name },
      environment: { variables: environment },
      dependsOn: [this.logGroup, policy],
    });

    new LambdaEventSourceMapping(this, 'queue-trigger', {
      eventSourceArn: queue.arn,
      functionName: this.function.arn,
      batchSize: config.batchSize,
      maximumBatchingWindowInSeconds: config.maximumBatchingWindowSeconds,
      functionResponseTypes: ['ReportBatchItemFailures'],
      scalingConfig: { maximumConcurrency: config.maximumConcurrency },
      dependsOn: [policy],
    });
    // Priority jobs: a mapping of their own, polled beside the queue's, so a backlog there never
    // holds them up. No batching window (they are wanted at once); the same concurrency cap, so a
    // burst of them cannot take the whole reserved concurrency from the queue either.
    new LambdaEventSourceMapping(this, 'priority-queue-trigger', {
      eventSourceArn: priorityQueue.arn,
      functionName: this.function.arn,
      batchSize: config.batchSize,
      functionResponseTypes: ['ReportBatchItemFailures'],
      scalingConfig: { maximumConcurrency: config.maximumConcurrency },
      dependsOn: [policy],
    });
  }
}
