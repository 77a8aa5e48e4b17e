import { Args } from '@oclif/core';
import { BaseCommand } from '../lib/base-command.js';
import { resolveJobId } from '../lib/job-id.js';

export default class Retry extends BaseCommand {
  static override summary = 'Re-queue a failed or cancelled job.';
  static override examples = ['<%= config.bin %> <%= command.id %> 3f0c…'];

  static override args = {
    id: Args.string({ description: 'job id, or its start (unique, at least 4 characters)', required: true }),
  };

  async run(): Promise<void> {
    const { args } = await this.parse(Retry);
    const job = await this.api.retryJob(await resolveJobId(this.api, args.id));
    if (this.json) this.printJson(job);
    else this.out(`Job ${job.id} ${job.status}`);
  }
}
