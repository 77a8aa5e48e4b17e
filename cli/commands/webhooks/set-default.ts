import { Args, Flags } from '@oclif/core';
import { BaseCommand } from '../../lib/base-command.js';
import { UsageError } from '../../lib/errors.js';

export default class WebhooksSetDefault extends BaseCommand {
  static override summary = 'Set the webhook URL your jobs get when submitted without --webhook.';
  static override description = `Jobs submitted from then on without their own webhook URL (--webhook, webhookUrl) get this one; jobs already submitted keep theirs. The URL is checked as a job's is: http or https, and no private, loopback or link-local address unless the server allows them (JOBS_WEBHOOK_ALLOW_PRIVATE). --clear removes the default. Prints the default as set.`;
  static override examples = [
    '<%= config.bin %> <%= command.id %> https://example.com/hooks/jobs',
    '<%= config.bin %> <%= command.id %> --clear',
  ];

  static override args = {
    url: Args.string({ description: 'http(s) URL', required: false }),
  };

  static override flags = {
    clear: Flags.boolean({ description: 'remove the default' }),
  };

  async run(): Promise<void> {
    const { args, flags } = await this.parse(WebhooksSetDefault);
    if (Boolean(flags.clear) === (args.url !== undefined))
      throw new UsageError('give a URL, or --clear to remove the default (not both)');
    const set = await this.api.setDefaultWebhook(flags.clear ? null : args.url!);
    if (this.json) this.printJson(set);
    else this.out(set.url ?? 'no default webhook');
  }
}
