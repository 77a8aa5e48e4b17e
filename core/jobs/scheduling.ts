import { ConfigError } from '../config.js';
import { isPriority, PRIORITY_MAX, PRIORITY_MIN } from './priority.js';
import type { ClaimLimits } from './store/claim-next.js';

export { isPriority, PRIORITY_MAX, PRIORITY_MIN };

/** How long the Lambda puts off a job over a concurrency limit before it is looked at again. */
export const OVER_LIMIT_DELAY_SECONDS = 5;

/** What a job type may declare about its scheduling (a handler's optional fields). */
export interface TypeScheduling {
  readonly type: string;
  /** The default priority of its jobs (-100..100; default 0). */
  readonly priority?: number;
  /** At most this many of its jobs RUNNING at once, across every worker (default: no limit). */
  readonly concurrency?: number;
}

/** The scheduling settings of the environment (core/config.ts reads them). */
export interface SchedulingConfig {
  /** JOBS_TYPE_PRIORITY: type → default priority, over the handler's. */
  typePriority: ReadonlyMap<string, number>;
  /** JOBS_TYPE_CONCURRENCY: type → running limit, over the handler's (0: no limit). */
  typeConcurrency: ReadonlyMap<string, number>;
  /** JOBS_MAX_RUNNING_JOBS_PER_USER (0: no cap). */
  maxRunningJobsPerUser: number;
}

/**
 * The type defaults and claim limits in force: each type's handler settings, overridden by the
 * environment's. A type named in the environment but not among `types` is a ConfigError (a typo
 * would otherwise silently limit nothing).
 */
export function resolveScheduling(
  types: readonly TypeScheduling[],
  config: SchedulingConfig,
): { priorityOf(type: string): number; limits: ClaimLimits } {
  const known = new Set(types.map((t) => t.type));
  for (const [name, map] of [
    ['JOBS_TYPE_PRIORITY', config.typePriority],
    ['JOBS_TYPE_CONCURRENCY', config.typeConcurrency],
  ] as const) {
    for (const type of map.keys())
      if (!known.has(type))
        throw new ConfigError(
          `Invalid configuration: ${name}: unknown job type "${type}"; known types: ${[...known].sort().join(', ')}`,
        );
  }
  const priority = new Map<string, number>();
  const concurrency = new Map<string, number>();
  for (const t of types) {
    if (t.priority !== undefined && !isPriority(t.priority))
      throw new Error(
        `job type "${t.type}": priority must be a whole number from ${PRIORITY_MIN} to ${PRIORITY_MAX}`,
      );
    if (t.concurrency !== undefined && !(Number.isSafeInteger(t.concurrency) && t.concurrency >= 0))
      throw new Error(`job type "${t.type}": concurrency must be a whole number, 0 (no limit) or more`);
    const p = config.typePriority.get(t.type) ?? t.priority ?? 0;
    if (p !== 0) priority.set(t.type, p);
    const c = config.typeConcurrency.get(t.type) ?? t.concurrency ?? 0;
    if (c > 0) concurrency.set(t.type, c);
  }
  return {
    priorityOf: (type) => priority.get(type) ?? 0,
    limits: { maxRunningPerOwner: config.maxRunningJobsPerUser, typeConcurrency: concurrency },
  };
}
