/**
 * The typed configuration of one deployment environment (qa, prod, …). Each environment is one
 * file in this directory; `stacks/main.ts` picks one by name. Nothing here reads the process
 * environment: ids of existing infrastructure and sizes are reviewed, committed values.
 */
export interface EnvironmentConfig {
  /** Short name, used in resource names and tags: lower-case letters, digits and dashes. */
  name: string;
  /** AWS region of every resource of the environment. */
  region: string;
  /** Tags on every taggable resource (the provider's default_tags). */
  tags?: Record<string, string>;
  /**
   * Where Terraform keeps the environment's state. Without it, a local file
   * `terraform.jobs-<env>.tfstate` in the directory `jobs synth` runs from. `jobs synth` takes
   * the bucket, region and lock table from JOBS_STATE_BUCKET, JOBS_STATE_REGION and
   * JOBS_STATE_LOCK_TABLE when set (stacks/main.ts).
   */
  stateBackend?: S3StateBackend;
  /**
   * The state must be remote (S3, encrypted, locked): synth refuses the environment without a
   * `stateBackend`, and the guardrails refuse a stack with a local one (prod).
   */
  requireRemoteState?: boolean;
  network: NetworkConfig;
  storage: StorageConfig;
  queue: QueueConfig;
  processor: ProcessorConfig;
  database: DatabaseConfig;
  monitoring: MonitoringConfig;
}

/**
 * Terraform state in S3 (encrypted at rest), locked by a DynamoDB table or, without one, by an
 * S3 lock file next to the state (Terraform ≥ 1.10). The bucket (and table) must exist before
 * the first `jobs deploy`: they hold the state of everything else, so no stack here creates them.
 */
export interface S3StateBackend {
  bucket: string;
  /** Object key of the state; default `jobs/<env>.tfstate`. */
  key?: string;
  region: string;
  dynamodbTable?: string;
  /** Encrypt the state with this KMS key instead of the bucket's default encryption. */
  kmsKeyId?: string;
}

export type NetworkConfig =
  | {
      /** A new VPC with this CIDR and one private subnet per availability zone. */
      cidr: string;
      /** Availability zones (at least two, for RDS subnet groups). */
      availabilityZones: string[];
      /** Days the VPC's flow logs are kept (default 90). */
      flowLogRetentionDays?: number;
      /**
       * Outbound HTTP(S) to the internet, for [webhooks](README, Webhooks): a public subnet, an
       * internet gateway and one NAT gateway, and egress on ports 80 and 443 from the processor
       * and the API hosts. Off by default (the subnets stay private with no route out, and a NAT
       * gateway is billed by the hour): without it, webhook deliveries on AWS cannot leave the VPC.
       */
      webhookEgress?: boolean;
    }
  | {
      /** Reuse this VPC instead of creating one. */
      existingVpcId: string;
      /** Private subnets of that VPC for the Lambda and the database (at least two AZs). */
      existingPrivateSubnetIds: string[];
      /** The route tables of those subnets: the S3 gateway endpoint is added to them. */
      existingRouteTableIds: string[];
      /**
       * Egress on ports 80 and 443 from the processor and the API hosts, for webhooks. Your route
       * tables must already send 0.0.0.0/0 to a NAT gateway (or a proxy): nothing here adds one.
       */
      webhookEgress?: boolean;
    };

export interface StorageConfig {
  /** Server-side encryption of the input bucket: S3-managed keys, or a KMS key (created when no ARN is given). */
  encryption: { kind: 'AES256' } | { kind: 'KMS'; keyArn?: string };
  /** Inputs (and their noncurrent versions) expire after this many days. */
  expireInputsAfterDays: number;
  /**
   * JOBS_RETENTION_DAYS of the deployment: finished jobs, their logs and inputs are deleted this
   * many days after they end (default: expireInputsAfterDays). At most expireInputsAfterDays: the
   * bucket's rule (counted from the upload) is the backstop for files no job references any more.
   */
  retentionDays?: number;
  /** Lets `terraform destroy` empty and delete a bucket that still holds objects (qa only). */
  forceDestroy?: boolean;
  /** Days the input bucket's server access logs are kept in the log bucket (default 90). */
  accessLogRetentionDays?: number;
}

export interface QueueConfig {
  /** Deliveries of one message before SQS moves it to the dead-letter queue (≥ 5). */
  maxReceiveCount: number;
  /**
   * Seconds a received message stays hidden. At least 6 × the processor timeout (AWS's advice
   * for Lambda event sources); default exactly that.
   */
  visibilityTimeoutSeconds?: number;
  /** How long messages are kept, main queue (default 4 days) and DLQ (14 days). */
  messageRetentionSeconds?: number;
}

export interface ProcessorConfig {
  memoryMb: number;
  /** Function timeout; a job's deadline is this less a 5 s margin. */
  timeoutSeconds: number;
  /** Concurrency reserved for (and capping) the function. */
  reservedConcurrency: number;
  /** SQS messages per invocation. */
  batchSize: number;
  /** Seconds the event source waits to fill a batch (0–300). */
  maximumBatchingWindowSeconds?: number;
  /** Concurrent invocations the SQS event source may drive (2–1000, ≤ reservedConcurrency). */
  maximumConcurrency: number;
  logRetentionDays: number;
  logLevel?: 'trace' | 'debug' | 'info' | 'warn' | 'error' | 'fatal' | 'silent';
}

export type DatabaseConfig =
  | {
      /** A new RDS PostgreSQL instance. */
      instanceClass: string;
      engineVersion: string;
      allocatedStorageGb: number;
      maxAllocatedStorageGb?: number;
      backupRetentionDays: number;
      multiAz: boolean;
      deletionProtection: boolean;
      /** Performance Insights (not offered on the smallest instance classes). */
      performanceInsights?: boolean;
      /** Database name and master user (its password is generated and kept by RDS in Secrets Manager). */
      name: string;
      username: string;
    }
  | {
      /** Reuse a database: host, port and name, and the security group that guards it. */
      existing: {
        host: string;
        port: number;
        name: string;
        username: string;
        securityGroupId: string;
        /**
         * A Secrets Manager secret holding either the whole `postgresql://` URL or JSON with at
         * least `password` (RDS's format).
         */
        secretArn: string;
      };
    };

export interface MonitoringConfig {
  /** Subscribed to the alarm topic (AWS sends a confirmation mail first). */
  alarmEmail: string;
  /** Alarm when the oldest queued message is older than this (seconds). */
  oldestMessageAgeAlarmSeconds: number;
  /** Alarm when the slowest invocation takes more than this share of the timeout (0–1). */
  durationAlarmRatio?: number;
}
