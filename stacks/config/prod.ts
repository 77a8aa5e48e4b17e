import type { EnvironmentConfig } from './types.js';

/**
 * prod: larger, KMS-encrypted inputs, Multi-AZ database with deletion protection and two weeks
 * of backups, Terraform state in S3. To reuse an existing VPC or database, replace `network` or
 * `database` with the `existing…` form of their types (see ./types.ts).
 */
export const prod: EnvironmentConfig = {
  name: 'prod',
  region: 'eu-west-1',
  tags: { project: 'jobs', environment: 'prod' },
  // Never a state file on one machine: S3, encrypted, locked by a lock file beside the state.
  // The bucket must exist before the first deploy (README "Remote state"); JOBS_STATE_BUCKET,
  // JOBS_STATE_REGION and JOBS_STATE_LOCK_TABLE override these values at synth.
  requireRemoteState: true,
  stateBackend: { bucket: 'jobs-terraform-state', region: 'eu-west-1' },
  network: {
    cidr: '10.41.0.0/16',
    availabilityZones: ['eu-west-1a', 'eu-west-1b', 'eu-west-1c'],
  },
  storage: { encryption: { kind: 'KMS' }, expireInputsAfterDays: 30 },
  queue: { maxReceiveCount: 5 },
  processor: {
    memoryMb: 2048,
    timeoutSeconds: 900,
    reservedConcurrency: 50,
    batchSize: 10,
    maximumBatchingWindowSeconds: 2,
    maximumConcurrency: 40,
    logRetentionDays: 90,
    logLevel: 'info',
  },
  database: {
    instanceClass: 'db.m7g.large',
    engineVersion: '16',
    allocatedStorageGb: 100,
    maxAllocatedStorageGb: 500,
    backupRetentionDays: 14,
    multiAz: true,
    deletionProtection: true,
    performanceInsights: true,
    name: 'jobs',
    username: 'jobs',
  },
  monitoring: {
    alarmEmail: 'jobs-oncall@example.com',
    oldestMessageAgeAlarmSeconds: 1800,
    durationAlarmRatio: 0.8,
  },
};
