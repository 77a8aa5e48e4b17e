import { Flags } from '@oclif/core';
import { BaseCommand } from '../../lib/base-command.js';
import { formatTime } from '../../lib/format.js';
import { renderTable } from '../../lib/table.js';

export default class DlqList extends BaseCommand {
  static override summary = 'List dead-lettered jobs (admin tokens with dlq:Manage).';
  static override description = `Jobs given up on after their attempts ran out (workers that kept dying or hanging, or retryable errors to the last attempt): FAILED, with their message dead-lettered. \`jobs dlq redrive\` sends them back.`;
  static override examples = [
    '<%= config.bin %> <%= command.id %>',
    '<%= config.bin %> <%= command.id %> --json',
  ];

  static override flags = {
    limit: Flags.integer({ description: 'newest N dead letters', min: 1, max: 1000, default: 100 }),
  };

  async run(): Promise<void> {
    const { flags } = await this.parse(DlqList);
    const list = await this.api.listDeadLetters(flags.limit);
    if (this.json) {
      this.printJson(list);
      return;
    }
    if (list.items.length === 0) {
      this.note(`No dead-lettered jobs (queue dead letters: ${list.queueDeadLetters}).`);
      return;
    }
    this.out(
      renderTable(
        ['id', 'type', 'owner', 'attempts', 'dead-lettered', 'error'],
        list.items.map((j) => [
          j.id,
          j.type,
          j.ownerId,
          `${j.attempts}/${j.maxAttempts}`,
          formatTime(j.deadLetteredAt),
          j.error ?? '-',
        ]),
        { fixed: [0, 2] },
      ),
    );
    this.note(
      `${list.items.length} of ${list.total} dead-lettered job(s); queue dead letters: ${list.queueDeadLetters}`,
    );
  }
}
