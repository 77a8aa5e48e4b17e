import { Flags } from '@oclif/core';
import type { JobStatus } from '../lib/api-types.js';
import { BaseCommand, utcFlag } from '../lib/base-command.js';
import { UsageError } from '../lib/errors.js';
import { formatTime, formatProgress } from '../lib/format.js';
import { renderTable, shortIds, statusText } from '../lib/table.js';

const STATUSES: JobStatus[] = ['PENDING', 'RUNNING', 'COMPLETED', 'FAILED', 'CANCELLED'];

export default class List extends BaseCommand {
  static override summary = "List the caller's jobs, newest first.";
  static override description =
    "Admin tokens with job:ReadAll see every user's jobs with --all. When there are more, a hint shows the --cursor to pass for the next page. Ids show as their first 8 characters (--full-ids for whole ones): get, logs, cancel and retry take any unique prefix. Statuses are coloured on a terminal (not with NO_COLOR). Times are local with their UTC offset, or in UTC with --utc.";

  static override examples = [
    '<%= config.bin %> <%= command.id %>',
    '<%= config.bin %> <%= command.id %> --status FAILED --type csv-import --limit 50',
    '<%= config.bin %> <%= command.id %> --all --json',
  ];

  static override flags = {
    status: Flags.string({
      char: 's',
      description: `only jobs in this state: ${STATUSES.join(', ')} (any case)`,
      helpValue: 'STATUS',
    }),
    type: Flags.string({ char: 't', description: 'only jobs of this type' }),
    limit: Flags.integer({ char: 'n', description: 'jobs per page', min: 1 }),
    all: Flags.boolean({ description: "every user's jobs (admin tokens with job:ReadAll)" }),
    cursor: Flags.string({ description: 'the page after this cursor (from a previous list)' }),
    'full-ids': Flags.boolean({
      description: 'whole job ids (default: their first 8 characters, which every command takes)',
    }),
    utc: utcFlag,
  };

  async run(): Promise<void> {
    const { flags } = await this.parse(List);
    const status = flags.status?.toUpperCase() as JobStatus | undefined;
    if (status && !STATUSES.includes(status)) {
      throw new UsageError(`--status must be one of ${STATUSES.join(', ')}, got "${flags.status}"`);
    }
    const page = await this.api.listJobs({
      status,
      type: flags.type,
      limit: flags.limit,
      cursor: flags.cursor,
      all: flags.all,
    });
    if (this.json) {
      this.printJson(page);
      return;
    }
    if (page.items.length === 0) {
      this.note('No jobs.');
    } else {
      const ids = flags['full-ids'] ? page.items.map((j) => j.id) : shortIds(page.items.map((j) => j.id));
      this.out(
        renderTable(
          ['id', 'type', 'status', 'progress', 'created', 'finished'],
          page.items.map((j, i) => [
            ids[i]!,
            j.type,
            statusText(j.status),
            formatProgress(j.progress, j.input),
            formatTime(j.createdAt, { utc: flags.utc }),
            formatTime(j.finishedAt, { utc: flags.utc }),
          ]),
          // Ids never wrap; on a narrow terminal "finished", "progress", then "created" go first.
          { fixed: [0], droppable: [5, 3, 4] },
        ),
      );
    }
    if (page.nextCursor) {
      const again = [
        'jobs list',
        status && `--status ${status}`,
        flags.type && `--type ${flags.type}`,
        flags.limit && `--limit ${flags.limit}`,
        flags.all && '--all',
        `--cursor ${page.nextCursor}`,
      ]
        .filter(Boolean)
        .join(' ');
      this.note(`More jobs: ${again}`);
    }
  }
}
