import { Args } from '@oclif/core';
import { BaseCommand } from '../../lib/base-command.js';
import { formatScheduleDetails } from '../../lib/format.js';
import { resolveScheduleId } from '../../lib/job-id.js';

export default class SchedulesGet extends BaseCommand {
  static override summary = "Show one schedule's details.";
  static override description =
    'Its cron expression and time zone, job type and params, state, next and last run, the last job it created and, when its last due tick created no job, why.';
  static override examples = [
    '<%= config.bin %> <%= command.id %> 5b1e…',
    '<%= config.bin %> <%= command.id %> 5b1e… --json',
  ];

  static override args = {
    id: Args.string({ description: 'schedule id (see `jobs schedules list`), or its start', required: true }),
  };

  async run(): Promise<void> {
    const { args } = await this.parse(SchedulesGet);
    const schedule = await this.api.getSchedule(await resolveScheduleId(this.api, args.id));
    if (this.json) this.printJson(schedule);
    else this.out(formatScheduleDetails(schedule));
  }
}
