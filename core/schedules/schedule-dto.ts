import type { Schedule as ScheduleRow } from '../db/generated/client.js';

/** What a schedule does with ticks missed while nothing was running to create their jobs. */
export type MissedTicks = 'run-once' | 'skip';
export const MISSED_TICKS: readonly MissedTicks[] = ['run-once', 'skip'];

/** A schedule as the API, the CLI's --json and the dashboard see it. */
export interface ScheduleDto {
  id: string;
  name: string | null;
  cron: string;
  timezone: string;
  type: string;
  params: unknown;
  paused: boolean;
  missed: MissedTicks;
  /** The next tick that will create a job (null while paused). */
  nextRunAt: string | null;
  /** The tick of the last job this schedule created. */
  lastRunAt: string | null;
  lastJobId: string | null;
  /** Why the last due tick created no job (quota, a job type gone); null once one is created. */
  lastError: string | null;
  ownerId: string;
  createdAt: string;
  updatedAt: string;
}

export function toScheduleDto(s: ScheduleRow): ScheduleDto {
  return {
    id: s.id,
    name: s.name,
    cron: s.cron,
    timezone: s.timezone,
    type: s.type,
    params: s.params,
    paused: s.paused,
    missed: s.missed as MissedTicks,
    nextRunAt: s.paused ? null : s.nextRunAt.toISOString(),
    lastRunAt: s.lastRunAt?.toISOString() ?? null,
    lastJobId: s.lastJobId,
    lastError: s.lastError,
    ownerId: s.ownerId,
    createdAt: s.createdAt.toISOString(),
    updatedAt: s.updatedAt.toISOString(),
  };
}
