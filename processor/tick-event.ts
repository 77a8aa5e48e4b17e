/**
 * The event the stacks' EventBridge Scheduler sends the processor Lambda every minute
 * (stacks/schedule-trigger.ts): instead of an SQS batch, one pass of the schedule ticker, of the
 * webhook deliverer and of retention.
 */
export const SCHEDULE_TICK_EVENT = { jobs: 'schedules-tick' } as const;
export type ScheduleTickEvent = typeof SCHEDULE_TICK_EVENT;

export function isScheduleTick(event: unknown): event is ScheduleTickEvent {
  return (
    typeof event === 'object' &&
    event !== null &&
    (event as { jobs?: unknown }).jobs === SCHEDULE_TICK_EVENT.jobs
  );
}
