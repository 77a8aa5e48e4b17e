import { Args } from '@oclif/core';
import { BaseCommand, utcFlag } from '../lib/base-command.js';
import { formatJobDetails } from '../lib/format.js';
import { resolveJobId } from '../lib/job-id.js';

export default class Get extends BaseCommand {
  static override summary = "Show one job's details.";
  static override description =
    'Status, progress, result, error, timestamps and input of a job. Times are local with their UTC offset (2026-12-01 09:00:00 +01:00), or in UTC with --utc.';
  static override examples = [
    '<%= config.bin %> <%= command.id %> 3f0c…',
    '<%= config.bin %> <%= command.id %> 3f0c… --json',
  ];

  static override args = {
    id: Args.string({ description: 'job id, or its start (unique, at least 4 characters)', required: true }),
  };

  static override flags = { utc: utcFlag };

  async run(): Promise<void> {
    const { args, flags } = await this.parse(Get);
    const job = await this.api.getJob(await resolveJobId(this.api, args.id));
    if (this.json) this.printJson(job);
    else this.out(formatJobDetails(job, { utc: flags.utc }));
  }
}
