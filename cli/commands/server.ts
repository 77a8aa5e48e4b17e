import { Flags } from '@oclif/core';
import { loadConfig } from '../../core/config.js';
import { profilePath, readProfile, writeProfile } from '../../core/profile.js';
import { restrictNewFiles } from '../../core/private-files.js';
import { BaseCommand } from '../lib/base-command.js';
import { requireExtras } from '../lib/extras.js';
import { closeOnSignal } from '../lib/until-signal.js';
import { tuneServerProcess } from '../lib/v8-flags.js';

export default class Server extends BaseCommand {
  static override summary = 'Run the API, the dashboard and an embedded worker.';
  static override description = `Everything is chosen by configuration (see .env.example): with none, the database is PGlite in <data-dir>/db, input files go to <data-dir>/blobs and the queue is a table. On first start it creates an admin token and saves it as the CLI profile of its URL, so the CLI on this machine works without login (profiles are kept per URL; --new-admin-token mints a new admin token for a data dir whose token was lost). On SIGINT/SIGTERM it stops taking requests and jobs, lets running jobs finish for up to --grace seconds, then releases them (PENDING, to run on the next start).`;

  static override examples = [
    '<%= config.bin %> <%= command.id %>',
    '<%= config.bin %> <%= command.id %> --port 0 --data-dir /tmp/jobs',
    'DATABASE_URL=postgresql://… <%= config.bin %> <%= command.id %> --no-worker',
  ];

  static override flags = {
    port: Flags.integer({
      description: 'port to listen on; 0 picks a free one [env: PORT] (default 8080)',
      min: 0,
      max: 65535,
    }),
    host: Flags.string({ description: 'interface to listen on [env: JOBS_HOST] (default 127.0.0.1)' }),
    'data-dir': Flags.string({
      description: 'where embedded data lives [env: JOBS_DATA_DIR] (default ./.jobs)',
    }),
    'no-worker': Flags.boolean({ description: 'do not run the embedded worker (API only)' }),
    concurrency: Flags.integer({ description: 'jobs the embedded worker runs at once', min: 1, default: 2 }),
    'new-admin-token': Flags.boolean({
      description:
        "mint a new admin token and save it as this server's CLI profile (for a data dir whose token was lost)",
    }),
    grace: Flags.integer({
      description: 'seconds running jobs get to finish on SIGTERM before they are released',
      min: 0,
      default: 10,
    }),
  };

  async run(): Promise<void> {
    // Before anything is created: the data directory holds the database, inputs and the upload
    // secret, none of them for other users of the machine (files 0600, directories 0700).
    restrictNewFiles();
    const { flags } = await this.parse(Server);
    requireExtras('server', 'server');
    const config = loadConfig(process.env, {
      port: flags.port,
      host: flags.host,
      dataDir: flags['data-dir'],
    });
    tuneServerProcess({ embedded: !config.databaseUrl });
    // Loaded here, not at the top: oclif imports every command file to list them, and the
    // client commands should not pay for the server's dependencies.
    const { startServer } = await import('../../server/main.js');
    const { processLogger } = await import('../lib/process-logger.js');
    const server = await startServer({
      config,
      logger: await processLogger(config),
      worker: !flags['no-worker'],
      concurrency: flags.concurrency,
      graceMs: flags.grace * 1000,
      newAdminToken: flags['new-admin-token'],
    });
    await this.saveLocalProfile(server);
    process.stderr.write(`jobs server listening on ${server.url}\n`);
    if (this.json) this.printJsonLine({ url: server.url });

    await closeOnSignal(
      'jobs server',
      () => server.close(),
      (t) => this.note(t),
    );
    this.exit(0);
  }

  /**
   * When this start created an admin token (the first start, or --new-admin-token), saves it as
   * the CLI profile of this server's URL, so `jobs submit` works here with no login. Profiles are
   * kept per URL: another API's token is never lost, and a remote current profile stays current
   * (this one is saved beside it, for JOBS_API_URL=URL). On a later start on another port, a
   * local profile holding a token of this server is saved for the new URL too.
   */
  private async saveLocalProfile(server: {
    url: string;
    createdAdminToken?: string;
    acceptsToken(token: string): Promise<boolean>;
  }): Promise<void> {
    const file = profilePath();
    const current = readProfile(file);
    const saved = readProfile(file, server.url);
    if (!server.createdAdminToken) {
      if (!saved && current && isLoopback(current.apiUrl) && (await server.acceptsToken(current.token)))
        writeProfile({ apiUrl: server.url, token: current.token }, file);
      return;
    }
    const replaced = saved !== undefined && !(await server.acceptsToken(saved.token));
    const makeCurrent = !current || isLoopback(current.apiUrl);
    writeProfile({ apiUrl: server.url, token: server.createdAdminToken }, file, { current: makeCurrent });
    this.note(
      `created an admin token and saved it as the CLI profile for ${server.url} (${file})` +
        (makeCurrent
          ? ''
          : `, beside the current one for ${current!.apiUrl}: use it with JOBS_API_URL=${server.url}`) +
        (replaced
          ? `; it replaces a token this server does not know (another data dir's: start that one with --new-admin-token to mint it a new one)`
          : ''),
    );
  }
}

function isLoopback(apiUrl: string): boolean {
  try {
    const host = new URL(apiUrl).hostname;
    return host === 'localhost' || host === '[::1]' || host.startsWith('127.');
  } catch {
    return false;
  }
}
