import { prod } from './prod.js';
import { qa } from './qa.js';
import type { EnvironmentConfig } from './types.js';

export type { EnvironmentConfig } from './types.js';

/** Every environment `jobs synth --env` knows, by name. Adding one is a file and a line here. */
export const environments: Readonly<Record<string, EnvironmentConfig>> = { qa, prod };

/** Checks an environment's values; returns one sentence per problem (empty when sound). */
export function checkEnvironment(c: EnvironmentConfig): string[] {
  const problems: string[] = [];
  const need = (ok: boolean, sentence: string) => {
    if (!ok) problems.push(`${c.name}: ${sentence}`);
  };
  need(/^[a-z][a-z0-9-]{0,20}$/.test(c.name), 'name must be lower-case letters, digits and dashes');
  const p = c.processor;
  need(p.timeoutSeconds >= 10 && p.timeoutSeconds <= 900, 'processor.timeoutSeconds must be 10–900');
  need(p.memoryMb >= 128 && p.memoryMb <= 10240, 'processor.memoryMb must be 128–10240');
  need(p.reservedConcurrency >= 1, 'processor.reservedConcurrency must be at least 1');
  need(p.batchSize >= 1 && p.batchSize <= 10, 'processor.batchSize must be 1–10');
  need(
    p.maximumConcurrency >= 2 && p.maximumConcurrency <= 1000,
    'processor.maximumConcurrency must be 2–1000 (an SQS event source limit)',
  );
  need(
    p.maximumConcurrency <= p.reservedConcurrency,
    'processor.maximumConcurrency must not exceed reservedConcurrency, or messages are throttled back to the queue',
  );
  need(p.logRetentionDays >= 1, 'processor.logRetentionDays must be at least 1');
  need(c.queue.maxReceiveCount >= 5, 'queue.maxReceiveCount must be at least 5');
  const visibility = visibilityTimeoutOf(c);
  need(
    visibility >= 6 * p.timeoutSeconds,
    `queue.visibilityTimeoutSeconds (${visibility}) must be at least 6 × processor.timeoutSeconds (${6 * p.timeoutSeconds})`,
  );
  need(visibility <= 43_200, 'queue.visibilityTimeoutSeconds must be at most 43200 (12 hours)');
  need(c.storage.expireInputsAfterDays >= 1, 'storage.expireInputsAfterDays must be at least 1');
  const retention = c.storage.retentionDays ?? c.storage.expireInputsAfterDays;
  need(
    retention >= 1 && retention <= c.storage.expireInputsAfterDays,
    `storage.retentionDays (${retention}) must be between 1 and storage.expireInputsAfterDays (${c.storage.expireInputsAfterDays})`,
  );
  need((c.storage.accessLogRetentionDays ?? 90) >= 1, 'storage.accessLogRetentionDays must be at least 1');
  need(
    !c.requireRemoteState || c.stateBackend !== undefined,
    'stateBackend is required (requireRemoteState): set it in the config, or JOBS_STATE_BUCKET',
  );
  if ('cidr' in c.network) {
    need(c.network.availabilityZones.length >= 2, 'network.availabilityZones needs at least two zones');
    need((c.network.flowLogRetentionDays ?? 90) >= 1, 'network.flowLogRetentionDays must be at least 1');
  } else {
    need(
      c.network.existingPrivateSubnetIds.length >= 2,
      'network.existingPrivateSubnetIds needs at least two subnets',
    );
    need(
      c.network.existingRouteTableIds.length >= 1,
      'network.existingRouteTableIds needs at least one route table',
    );
  }
  if (!('existing' in c.database)) {
    need(c.database.backupRetentionDays >= 1, 'database.backupRetentionDays must be at least 1 (backups on)');
  }
  need(/^[^@\s]+@[^@\s]+$/.test(c.monitoring.alarmEmail), 'monitoring.alarmEmail must be an email address');
  const ratio = c.monitoring.durationAlarmRatio ?? 0.8;
  need(ratio > 0 && ratio < 1, 'monitoring.durationAlarmRatio must be between 0 and 1');
  return problems;
}

/** The queue's visibility timeout: configured, or 6 × the processor timeout. */
export function visibilityTimeoutOf(c: EnvironmentConfig): number {
  return c.queue.visibilityTimeoutSeconds ?? 6 * c.processor.timeoutSeconds;
}
