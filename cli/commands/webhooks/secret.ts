import { Flags } from '@oclif/core';
import { BaseCommand } from '../../lib/base-command.js';

export default class WebhooksSecret extends BaseCommand {
  static override summary = 'Print the secret your webhook deliveries are signed with.';
  static override description = `Deliveries carry Jobs-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>" under this secret> (see the README's Webhooks section for a receiver's check). The secret is made on first use and stays until rotated.
--rotate replaces it: for 24 hours deliveries carry a second v1 signature made with the old secret, so a receiver can switch without missing any. Prints the secret alone (for a variable or a secret store); --json adds previousSecretValidUntil.`;
  static override examples = [
    '<%= config.bin %> <%= command.id %>',
    'WEBHOOK_SECRET=$(<%= config.bin %> <%= command.id %> --rotate)',
  ];

  static override flags = {
    rotate: Flags.boolean({ description: 'replace the secret (the old one also signs for 24 hours)' }),
  };

  async run(): Promise<void> {
    const { flags } = await this.parse(WebhooksSecret);
    const s = await this.api.webhookSecret(flags.rotate);
    if (this.json) {
      this.printJson(s);
      return;
    }
    this.out(s.secret);
    if (s.previousSecretValidUntil)
      this.note(`The previous secret also signs deliveries until ${s.previousSecretValidUntil}.`);
  }
}
