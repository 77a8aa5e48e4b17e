import { IamRole } from '@cdktf/provider-aws/lib/iam-role/index.js';
import { IamRolePolicy } from '@cdktf/provider-aws/lib/iam-role-policy/index.js';
import { SchedulerSchedule } from '@cdktf/provider-aws/lib/scheduler-schedule/index.js';
import { Construct } from 'constructs';
import { SCHEDULE_TICK_EVENT } from '../processor/tick-event.js';
import { assumeRolePolicy, policyDocument } from './policy-document.js';

export interface ScheduleTriggerOptions {
  prefix: string;
  region: string;
  account: string;
  partition: string;
  /** The processor Lambda: the one thing the trigger may invoke. */
  function: { arn: string };
}

/** The trigger's name (in the default schedule group); its role trusts this schedule only. */
export const scheduleTriggerName = (prefix: string) => `${prefix}-schedules-tick`;

/**
 * The clock of cron schedules on AWS: an EventBridge Scheduler schedule that invokes the
 * processor Lambda every minute with the tick event (processor/tick-event.ts), which creates the
 * jobs of every due schedule tick (the API hosts' tickers do too; each tick still makes one job).
 * Its role may invoke that one function and nothing else, and only this schedule may assume it.
 * A failed tick is not retried: the next minute's tick does its work.
 */
export class ScheduleTrigger extends Construct {
  readonly schedule: SchedulerSchedule;
  readonly role: IamRole;

  constructor(scope: Construct, id: string, opts: ScheduleTriggerOptions) {
    super(scope, id);
    const name = scheduleTriggerName(opts.prefix);
    this.role = new IamRole(this, 'role', {
      name,
      // Only this account's schedule of this name may use it (no confused deputy).
      assumeRolePolicy: assumeRolePolicy('scheduler.amazonaws.com', {
        StringEquals: {
          'aws:SourceAccount': opts.account,
          'aws:SourceArn': `arn:${opts.partition}:scheduler:${opts.region}:${opts.account}:schedule/default/${name}`,
        },
      }),
    });
    const policy = new IamRolePolicy(this, 'policy', {
      name: `${name}-least-privilege`,
      role: this.role.id,
      policy: policyDocument([
        {
          Sid: 'InvokeProcessor',
          Effect: 'Allow',
          Action: 'lambda:InvokeFunction',
          Resource: opts.function.arn,
        },
      ]),
    });
    this.schedule = new SchedulerSchedule(this, 'schedule', {
      name,
      description: 'jobs: create the jobs of due cron schedule ticks (processor/lambda.ts, tick event)',
      scheduleExpression: 'rate(1 minute)',
      flexibleTimeWindow: { mode: 'OFF' },
      target: {
        arn: opts.function.arn,
        roleArn: this.role.arn,
        input: JSON.stringify(SCHEDULE_TICK_EVENT),
        retryPolicy: { maximumRetryAttempts: 0, maximumEventAgeInSeconds: 60 },
      },
      dependsOn: [policy],
    });
  }
}
