import { Args } from '@oclif/core';
import { BaseCommand } from '../lib/base-command.js';

export default class Cancel extends BaseCommand {
  static override summary = 'Cancel a pending or running job.';
  static override examples = ['<%= config.bin %> <%= command.id %> 3f0c…'];

  static override args = {
    id: Args.string({ description: 'job id', required: true }),
  };

  async run(): Promise<void> {
    const { args } = await this.parse(Cancel);
    const job = await this.api.cancelJob(args.id);
    if (this.json) this.printJson(job);
    else this.out(`Job ${job.id} ${job.status}`);
  }
}
