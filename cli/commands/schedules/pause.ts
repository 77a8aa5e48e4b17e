import { Args } from '@oclif/core';
import { BaseCommand } from '../../lib/base-command.js';
import { resolveScheduleId } from '../../lib/job-id.js';

export default class SchedulesPause extends BaseCommand {
  static override summary = 'Pause a schedule: its ticks create no jobs until it is resumed.';
  static override examples = ['<%= config.bin %> <%= command.id %> 5b1e…'];

  static override args = {
    id: Args.string({
      description: 'schedule id, or its start (unique, at least 4 characters)',
      required: true,
    }),
  };

  async run(): Promise<void> {
    const { args } = await this.parse(SchedulesPause);
    const schedule = await this.api.updateSchedule(await resolveScheduleId(this.api, args.id), {
      paused: true,
    });
    if (this.json) this.printJson(schedule);
    else this.out(`Paused schedule ${schedule.id}${schedule.name ? ` (${schedule.name})` : ''}`);
  }
}
