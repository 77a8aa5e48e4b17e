import { Args } from '@oclif/core';
import type { WebhookDelivery } from '../../lib/api-types.js';
import { BaseCommand, utcFlag } from '../../lib/base-command.js';
import { formatDuration, formatTime, type TimeOptions } from '../../lib/format.js';
import { resolveJobId } from '../../lib/job-id.js';
import { renderTable } from '../../lib/table.js';

export default class WebhooksDeliveries extends BaseCommand {
  static override summary = "Show a job's webhook deliveries and each attempt.";
  static override description = `One row per attempt (POST) of each delivery: when, the receiver's HTTP status (or - when none came: refused address, DNS, timeout), how long it took and the error; then the delivery's state: delivered, pending (retrying, with when the next attempt is due) or failed (given up a day after the job ended).
--json prints {items:[{id, jobId, event, url, state, attempts, nextAttemptAt, createdAt, finishedAt, history:[{n, at, statusCode, error, durationMs}]}]}.`;
  static override examples = [
    '<%= config.bin %> <%= command.id %> 5b1e…',
    '<%= config.bin %> <%= command.id %> 5b1e… --json',
  ];

  static override flags = { utc: utcFlag };

  static override args = {
    id: Args.string({ description: 'job id (or a unique start of it)', required: true }),
  };

  async run(): Promise<void> {
    const { args, flags } = await this.parse(WebhooksDeliveries);
    const time: TimeOptions = { utc: flags.utc };
    const id = await resolveJobId(this.api, args.id);
    const page = await this.api.webhookDeliveries(id);
    if (this.json) {
      this.printJson(page);
      return;
    }
    if (page.items.length === 0) {
      this.note(`Job ${id} has no webhook deliveries (none until it ends, and only with a webhook URL).`);
      return;
    }
    for (const d of page.items) {
      this.out(`${d.event} → ${d.url}: ${stateOf(d, time)} (delivery ${d.id})`);
      if (d.history.length > 0)
        this.out(
          renderTable(
            ['#', 'at', 'status', 'took', 'error'],
            d.history.map((a) => [
              String(a.n),
              formatTime(a.at, time),
              a.statusCode === null ? '-' : String(a.statusCode),
              formatDuration(a.durationMs),
              a.error ?? '',
            ]),
          ),
        );
    }
  }
}

function stateOf(d: WebhookDelivery, time: TimeOptions): string {
  if (d.state === 'pending')
    return d.attempts === 0 ? 'pending' : `pending, next attempt ${formatTime(d.nextAttemptAt, time)}`;
  return `${d.state} ${formatTime(d.finishedAt, time)} after ${d.attempts} attempt${d.attempts === 1 ? '' : 's'}`;
}
