import { Flags } from '@oclif/core';
import { loadConfig } from '../../core/config.js';
import { profilePath, readProfile, writeProfile } from '../../core/profile.js';
import { restrictNewFiles } from '../../core/private-files.js';
import { BaseCommand } from '../lib/base-command.js';
import { closeOnSignal } from '../lib/until-signal.js';
import { tuneServerProcess } from '../lib/v8-flags.js';

export default class Server extends BaseCommand {
  static override summary = 'Run the API, the dashboard and an embedded worker.';
  static override description = `Everything is chosen by configuration (see .env.example): with none, the database is PGlite in <data-dir>/db, input files go to <data-dir>/blobs and the queue is a table. On first start it creates an admin token and saves a local profile, so the CLI on this machine works without login. On SIGINT/SIGTERM it stops taking requests and jobs, lets running jobs finish for up to --grace seconds, then releases them (PENDING, to run on the next start).`;

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
    const config = loadConfig(process.env, {
      port: flags.port,
      host: flags.host,
      dataDir: flags['data-dir'],
    });
    tuneServerProcess({ embedded: !config.databaseUrl });
    // Loaded here, not at the top: oclif imports every command file to list them, and the
    // client commands should not pay for the server's dependencies.
    const { startServer } = await import('../../server/main.js');
    const server = await startServer({
      config,
      worker: !flags['no-worker'],
      concurrency: flags.concurrency,
      graceMs: flags.grace * 1000,
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
   * On the first start (the server created the admin token) saves it as this machine's CLI
   * profile, so `jobs submit` works here with no login. An existing profile is only replaced when
   * it points at a local server, so a profile for a remote deployment is never clobbered. On a
   * later start on another port, a local profile holding a token of this server follows it.
   */
  private async saveLocalProfile(server: {
    url: string;
    createdAdminToken?: string;
    acceptsToken(token: string): Promise<boolean>;
  }): Promise<void> {
    const existing = readProfile();
    if (!server.createdAdminToken) {
      if (existing && isLoopback(existing.apiUrl) && existing.apiUrl !== server.url) {
        if (await server.acceptsToken(existing.token)) writeProfile({ ...existing, apiUrl: server.url });
      }
      return;
    }
    if (existing && !isLoopback(existing.apiUrl)) {
      this.note(
        `created the admin token, but kept the existing CLI profile for ${existing.apiUrl}; run \`jobs login --api-url ${server.url} --token <token>\` with JOBS_ADMIN_TOKEN to use this server`,
      );
      return;
    }
    writeProfile({ apiUrl: server.url, token: server.createdAdminToken });
    this.note(`created the admin token and saved it as the local CLI profile (${profilePath()})`);
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
