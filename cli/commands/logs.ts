import { Args, Flags } from '@oclif/core';
import { BaseCommand, utcFlag } from '../lib/base-command.js';
import { followJob, readLogs } from '../lib/follow.js';
import { formatLogLine, jobSummary } from '../lib/format.js';
import { resolveJobId } from '../lib/job-id.js';

export default class Logs extends BaseCommand {
  static override summary = "Print a job's logs.";
  static override description = `Lines print as "2026-12-01 09:00:00.123 +01:00 INFO message" (local time with its UTC offset; --utc for UTC). --follow streams new lines as they are written (the API's event stream; a dropped connection is resumed after the last line printed, so none is lost or repeated) until the job ends (on a terminal with the job's progress as a bar under them), then exits 0 if it COMPLETED and 1 if it FAILED or was CANCELLED; with --json it prints one JSON object per line (NDJSON).`;

  static override examples = [
    '<%= config.bin %> <%= command.id %> 3f0c…',
    '<%= config.bin %> <%= command.id %> 3f0c… --follow',
    '<%= config.bin %> <%= command.id %> 3f0c… --since 120 --json',
  ];

  static override args = {
    id: Args.string({ description: 'job id, or its start (unique, at least 4 characters)', required: true }),
  };

  static override flags = {
    follow: Flags.boolean({ char: 'f', description: 'stream new lines until the job ends' }),
    since: Flags.integer({
      description: 'only lines with a sequence number above SEQ',
      min: 0,
      helpValue: 'SEQ',
    }),
    utc: utcFlag,
  };

  async run(): Promise<void> {
    const { args, flags } = await this.parse(Logs);
    const id = await resolveJobId(this.api, args.id);
    if (!flags.follow) {
      const lines = await readLogs(this.api, id, flags.since ?? 0);
      if (this.json) this.printJson(lines);
      else for (const line of lines) this.out(formatLogLine(line, { utc: flags.utc }));
      return;
    }
    const bar = this.progressLine();
    const job = await followJob(this.api, id, {
      after: flags.since ?? 0,
      onJob: (j) => bar.update(j),
      onLine: (line) =>
        this.json
          ? this.printJsonLine(line)
          : bar.interleave(() => this.out(formatLogLine(line, { utc: flags.utc }))),
    });
    bar.stop();
    this.note(jobSummary(job));
    if (job.status !== 'COMPLETED') this.exit(1);
  }
}
