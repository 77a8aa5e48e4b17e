import { Args } from '@oclif/core';
import { BaseCommand } from '../lib/base-command.js';
import { resolveJobId } from '../lib/job-id.js';

export default class Cancel extends BaseCommand {
  static override summary = 'Cancel a pending or running job.';
  static override description =
    "A PENDING job is CANCELLED at once. A RUNNING job is asked to stop: its processor aborts the handler's signal within about a second and records CANCELLED with the handler's last log lines; the command waits up to 5 s for that.";
  static override examples = ['<%= config.bin %> <%= command.id %> 3f0c…'];

  static override args = {
    id: Args.string({ description: 'job id, or its start (unique, at least 4 characters)', required: true }),
  };

  async run(): Promise<void> {
    const { args } = await this.parse(Cancel);
    const job = await this.api.cancelJob(await resolveJobId(this.api, args.id));
    if (this.json) this.printJson(job);
    else if (job.status === 'RUNNING' && job.cancelRequestedAt)
      this.out(`Job ${job.id} RUNNING: cancel requested; it stops when its handler heeds the signal`);
    else this.out(`Job ${job.id} ${job.status}`);
  }
}
