import { Flags } from '@oclif/core';
import { loadConfig } from '../../core/config.js';
import { BaseCommand } from '../lib/base-command.js';
import { requireExtras } from '../lib/extras.js';
import { CliError } from '../lib/errors.js';
import { closeOnSignal } from '../lib/until-signal.js';

export default class Worker extends BaseCommand {
  static override summary = 'Run the processor as a long-running consumer of the job queue.';
  static override description = `Takes jobs from the configured queue (the database queue table, or SQS when JOBS_SQS_QUEUE_URL is set) and runs them with the same code as the Lambda. Needs DATABASE_URL: the embedded database belongs to \`jobs server\`, which runs its own worker. On SIGTERM it stops taking work, lets running jobs finish for up to --grace seconds, then releases them for another worker.`;

  static override examples = [
    'DATABASE_URL=postgresql://… <%= config.bin %> <%= command.id %> --concurrency 4',
  ];

  static override flags = {
    concurrency: Flags.integer({ description: 'jobs run at once', min: 1, default: 2 }),
    grace: Flags.integer({
      description: 'seconds running jobs get to finish on SIGTERM',
      min: 0,
      default: 10,
    }),
  };

  async run(): Promise<void> {
    const { flags } = await this.parse(Worker);
    requireExtras('server', 'worker');
    const config = loadConfig(process.env);
    if (!config.databaseUrl) {
      throw new CliError(
        'jobs worker needs DATABASE_URL: the embedded database belongs to `jobs server`, which runs its own worker',
        'not_configured',
      );
    }
    // Loaded here: oclif imports every command file to list them.
    const { processLogger } = await import('../lib/process-logger.js');
    const { compose } = await import('../../compose/compose.js');
    const platform = await compose(config, {
      logger: await processLogger(config, 'jobs-worker'),
      migrate: false,
    });
    // Its ticker goes by its timer: schedules change through the API, whose hosts' tickers listen.
    const worker = platform.startWorker({ concurrency: flags.concurrency, listenForSchedules: false });
    this.note(
      `jobs worker running (queue: ${platform.queueKind}, concurrency ${flags.concurrency}); SIGTERM to stop`,
    );
    await closeOnSignal(
      'jobs worker',
      async () => {
        await worker.stop(flags.grace * 1000);
        await platform.close();
      },
      (t) => this.note(t),
    );
    this.exit(0);
  }
}
