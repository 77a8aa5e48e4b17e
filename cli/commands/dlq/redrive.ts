import { Flags } from '@oclif/core';
import { BaseCommand } from '../../lib/base-command.js';

export default class DlqRedrive extends BaseCommand {
  static override summary = 'Send dead-lettered jobs back to the queue (admin tokens with dlq:Manage).';
  static override description = `Each dead-lettered job goes back to PENDING with its attempts reset (a full maxAttempts again) and a new message; the queue's own dead letters (SQS: the DLQ; embedded: the dead-letter rows) are moved back to the queue, except those of the jobs just requeued. With --id, only those jobs.`;
  static override examples = [
    '<%= config.bin %> <%= command.id %>',
    '<%= config.bin %> <%= command.id %> --id 3f0c… --id 9a1b…',
  ];

  static override flags = {
    id: Flags.string({ description: 'redrive only this job (repeatable)', multiple: true }),
  };

  async run(): Promise<void> {
    const { flags } = await this.parse(DlqRedrive);
    const res = await this.api.redriveDeadLetters(flags.id);
    if (this.json) {
      this.printJson(res);
      return;
    }
    for (const id of res.requeued) this.out(id);
    this.note(
      `Requeued ${res.requeued.length} job(s); moved ${res.movedMessages} dead-letter message(s) back to the queue, dropped ${res.droppedMessages}.`,
    );
  }
}
