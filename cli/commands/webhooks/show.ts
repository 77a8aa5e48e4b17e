import { BaseCommand } from '../../lib/base-command.js';

export default class WebhooksShow extends BaseCommand {
  static override summary = 'Print your default webhook URL (the one jobs submitted without --webhook get).';
  static override examples = [
    '<%= config.bin %> <%= command.id %>',
    '<%= config.bin %> <%= command.id %> --json',
  ];

  async run(): Promise<void> {
    await this.parse(WebhooksShow);
    const d = await this.api.getDefaultWebhook();
    if (this.json) this.printJson(d);
    else this.out(d.url ?? 'no default webhook');
  }
}
