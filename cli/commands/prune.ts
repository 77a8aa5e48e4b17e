import { Flags } from '@oclif/core';
import { BaseCommand } from '../lib/base-command.js';

export default class Prune extends BaseCommand {
  static override summary =
    "Delete finished jobs older than a given age, every user's (admin tokens with job:ManageAll).";
  static override description = `Deletes COMPLETED, FAILED and CANCELLED jobs that finished longer ago than --older-than (default: the server's JOBS_RETENTION_DAYS), with their log lines and input files. Servers and workers do this by themselves every hour with JOBS_RETENTION_DAYS (default 30; 0 keeps jobs forever); this command is for doing it now, or with another age. --dry-run only counts.`;
  static override examples = [
    '<%= config.bin %> <%= command.id %> --older-than 7d --dry-run',
    '<%= config.bin %> <%= command.id %> --older-than 12h',
    '<%= config.bin %> <%= command.id %>',
  ];

  static override flags = {
    'older-than': Flags.string({
      description:
        "delete jobs that finished longer ago than this: 90s, 10m, 12h, 7d, 2w (default: the server's JOBS_RETENTION_DAYS)",
    }),
    'dry-run': Flags.boolean({ description: 'only say how many jobs would be deleted' }),
  };

  async run(): Promise<void> {
    const { flags } = await this.parse(Prune);
    const res = await this.api.prune({ olderThan: flags['older-than'], dryRun: flags['dry-run'] });
    if (this.json) {
      this.printJson(res);
      return;
    }
    if (res.dryRun) {
      const oldest = res.oldest ? ` (the oldest finished ${res.oldest})` : '';
      this.out(`Would delete ${res.jobs} job(s) finished before ${res.cutoff}${oldest}.`);
    } else {
      this.out(
        `Deleted ${res.jobs} job(s) finished before ${res.cutoff}, with ${res.inputs} input file(s) and ${res.outputs} output file(s).`,
      );
    }
  }
}
