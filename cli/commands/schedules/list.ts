import { Flags } from '@oclif/core';
import { BaseCommand } from '../../lib/base-command.js';
import { formatTime } from '../../lib/format.js';
import { renderTable, shortIds } from '../../lib/table.js';

export default class SchedulesList extends BaseCommand {
  static override summary = "List the caller's schedules, newest first.";
  static override description =
    "Admin tokens with job:ReadAll see every user's schedules with --all. Next and last runs are shown in local time.";
  static override examples = [
    '<%= config.bin %> <%= command.id %>',
    '<%= config.bin %> <%= command.id %> --all --json',
  ];

  static override flags = {
    all: Flags.boolean({ description: "every user's schedules (admin tokens with job:ReadAll)" }),
    limit: Flags.integer({ char: 'n', description: 'schedules to show (default 100)', min: 1, max: 1000 }),
  };

  async run(): Promise<void> {
    const { flags } = await this.parse(SchedulesList);
    const page = await this.api.listSchedules({ all: flags.all, limit: flags.limit });
    if (this.json) {
      this.printJson(page);
      return;
    }
    if (page.items.length === 0) {
      this.note('No schedules.');
      return;
    }
    const ids = shortIds(page.items.map((s) => s.id));
    this.out(
      renderTable(
        ['id', 'name', 'cron', 'timezone', 'type', 'state', 'next run', 'last run', 'last error'],
        page.items.map((s, i) => [
          ids[i]!,
          s.name ?? '-',
          s.cron,
          s.timezone,
          s.type,
          s.paused ? 'paused' : 'active',
          formatTime(s.nextRunAt),
          formatTime(s.lastRunAt),
          s.lastError ?? '-',
        ]),
        { fixed: [0], droppable: [8, 7, 3] },
      ),
    );
  }
}
