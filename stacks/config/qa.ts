import type { EnvironmentConfig } from './types.js';

/** qa: everything created, small and cheap; the bucket and database can be destroyed. */
export const qa: EnvironmentConfig = {
  name: 'qa',
  region: 'eu-west-1',
  tags: { project: 'jobs', environment: 'qa' },
  network: { cidr: '10.40.0.0/16', availabilityZones: ['eu-west-1a', 'eu-west-1b'] },
  storage: { encryption: { kind: 'AES256' }, expireInputsAfterDays: 7, forceDestroy: true },
  queue: { maxReceiveCount: 5 },
  processor: {
    memoryMb: 1024,
    timeoutSeconds: 120,
    reservedConcurrency: 5,
    batchSize: 5,
    maximumBatchingWindowSeconds: 1,
    maximumConcurrency: 5,
    logRetentionDays: 14,
    logLevel: 'debug',
  },
  database: {
    instanceClass: 'db.t4g.micro',
    engineVersion: '16',
    allocatedStorageGb: 20,
    backupRetentionDays: 1,
    multiAz: false,
    deletionProtection: false,
    name: 'jobs',
    username: 'jobs',
  },
  monitoring: { alarmEmail: 'jobs-alerts@example.com', oldestMessageAgeAlarmSeconds: 900 },
};
