import { Args } from '@oclif/core';
import { BaseCommand } from '../../lib/base-command.js';
import { resolveScheduleId } from '../../lib/job-id.js';

export default class SchedulesDelete extends BaseCommand {
  static override summary = 'Delete a schedule (the jobs it created stay).';
  static override examples = ['<%= config.bin %> <%= command.id %> 5b1e…'];

  static override args = {
    id: Args.string({
      description: 'schedule id, or its start (unique, at least 4 characters)',
      required: true,
    }),
  };

  async run(): Promise<void> {
    const { args } = await this.parse(SchedulesDelete);
    const schedule = await this.api.deleteSchedule(await resolveScheduleId(this.api, args.id));
    if (this.json) this.printJson(schedule);
    else this.out(`Deleted schedule ${schedule.id}${schedule.name ? ` (${schedule.name})` : ''}`);
  }
}
