import { Args } from '@oclif/core';
import { BaseCommand } from '../../lib/base-command.js';

export default class SchedulesDelete extends BaseCommand {
  static override summary = 'Delete a schedule (the jobs it created stay).';
  static override examples = ['<%= config.bin %> <%= command.id %> 5b1e…'];

  static override args = {
    id: Args.string({ description: 'schedule id', required: true }),
  };

  async run(): Promise<void> {
    const { args } = await this.parse(SchedulesDelete);
    const schedule = await this.api.deleteSchedule(args.id);
    if (this.json) this.printJson(schedule);
    else this.out(`Deleted schedule ${schedule.id}${schedule.name ? ` (${schedule.name})` : ''}`);
  }
}
