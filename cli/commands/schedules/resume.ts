import { Args } from '@oclif/core';
import { BaseCommand } from '../../lib/base-command.js';
import { resolveScheduleId } from '../../lib/job-id.js';

export default class SchedulesResume extends BaseCommand {
  static override summary = 'Resume a paused schedule from its next tick.';
  static override description = 'Ticks that came while it was paused are not made up.';
  static override examples = ['<%= config.bin %> <%= command.id %> 5b1e…'];

  static override args = {
    id: Args.string({
      description: 'schedule id, or its start (unique, at least 4 characters)',
      required: true,
    }),
  };

  async run(): Promise<void> {
    const { args } = await this.parse(SchedulesResume);
    const schedule = await this.api.updateSchedule(await resolveScheduleId(this.api, args.id), {
      paused: false,
    });
    if (this.json) this.printJson(schedule);
    else
      this.out(
        `Resumed schedule ${schedule.id}${schedule.name ? ` (${schedule.name})` : ''}: next run ${schedule.nextRunAt}`,
      );
  }
}
