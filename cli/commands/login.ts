import { Flags } from '@oclif/core';
import { profilePath, writeProfile } from '../../core/profile.js';
import { ApiClient, normalizeApiUrl } from '../lib/api-client.js';
import { BaseCommand } from '../lib/base-command.js';
import { ApiError, CliError } from '../lib/errors.js';

export default class Login extends BaseCommand {
  static override summary = 'Save the API URL and token the CLI uses.';
  static override description = `Checks the token against the API first and saves nothing if it is rejected. The profile is written to $XDG_CONFIG_HOME/jobs/config.json (default ~/.config/jobs/config.json) with mode 0600. JOBS_API_URL and JOBS_TOKEN, when set, take precedence over it.`;

  static override examples = [
    '<%= config.bin %> <%= command.id %> --api-url https://jobs.example.com --token jobs_…',
  ];

  static override flags = {
    'api-url': Flags.string({ description: 'base URL of the jobs API', required: true }),
    token: Flags.string({ description: 'API token', required: true }),
  };

  async run(): Promise<void> {
    const { flags } = await this.parse(Login);
    const apiUrl = normalizeApiUrl(flags['api-url'], '--api-url');
    const api = new ApiClient({ apiUrl, token: flags.token });
    let me;
    try {
      me = await api.me();
    } catch (err) {
      if (err instanceof ApiError && err.status === 401) {
        throw new CliError(`the token was rejected by ${apiUrl}: ${err.message}`, err.code);
      }
      throw err;
    }
    const file = profilePath(process.env);
    writeProfile({ apiUrl, token: flags.token }, file);
    if (this.json) this.printJson({ apiUrl, ...me });
    else this.out(`Logged in to ${apiUrl} as ${me.name ?? me.userId} (${me.role})`);
  }
}
