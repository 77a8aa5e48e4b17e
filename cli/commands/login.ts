import { Flags } from '@oclif/core';
import { profilePath, writeProfile } from '../../core/profile.js';
import { ApiClient, normalizeApiUrl } from '../lib/api-client.js';
import { BaseCommand } from '../lib/base-command.js';
import { ApiError, CliError, UsageError } from '../lib/errors.js';
import { readSecret } from '../lib/read-secret.js';

export default class Login extends BaseCommand {
  static override summary = 'Save the API URL and token the CLI uses.';
  static override description = `Without --token (or with --token -) the token is read from stdin: piped, or typed at a prompt without echo, so it stays out of shell history and \`ps\`. Checks the token against the API first and saves nothing if it is rejected. Profiles are kept per API URL in $XDG_CONFIG_HOME/jobs/config.json (default ~/.config/jobs/config.json, mode 0600): logging in to another API keeps this one's token, and the last login is the current one. JOBS_API_URL and JOBS_TOKEN, when set, take precedence; JOBS_API_URL alone uses the token saved for that URL.`;

  static override examples = [
    '<%= config.bin %> <%= command.id %> --api-url https://jobs.example.com            # prompts for the token',
    'pass show jobs/prod | <%= config.bin %> <%= command.id %> --api-url https://jobs.example.com',
    '<%= config.bin %> <%= command.id %> --api-url https://jobs.example.com --token jobs_…',
  ];

  static override flags = {
    'api-url': Flags.string({ description: 'base URL of the jobs API', required: true }),
    token: Flags.string({ description: 'API token; - or none: read it from stdin (a prompt on a terminal)' }),
  };

  async run(): Promise<void> {
    const { flags } = await this.parse(Login);
    const apiUrl = normalizeApiUrl(flags['api-url'], '--api-url');
    const token =
      flags.token === undefined || flags.token === '-'
        ? await readSecret(`API token for ${apiUrl}: `)
        : flags.token;
    if (token === '')
      throw new UsageError('no token given: pipe it in, type it at the prompt, or pass --token');
    const api = new ApiClient({ apiUrl, token });
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
    writeProfile({ apiUrl, token }, file);
    if (this.json) this.printJson({ apiUrl, ...me });
    else this.out(`Logged in to ${apiUrl} as ${me.name ?? me.userId} (${me.role})`);
  }
}
