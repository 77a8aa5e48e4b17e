import { BaseCommand } from '../lib/base-command.js';

export default class Whoami extends BaseCommand {
  static override summary =
    'Show who the CLI acts as: the user, role and permissions of its token, and the API.';
  static override description =
    'Asks the API (GET /api/me) with the token the CLI would use: JOBS_TOKEN, or the profile saved for the API URL.';
  static override examples = [
    '<%= config.bin %> <%= command.id %>',
    '<%= config.bin %> <%= command.id %> --json',
  ];

  async run(): Promise<void> {
    await this.parse(Whoami);
    const me = await this.api.me();
    if (this.json) {
      this.printJson({ apiUrl: this.api.apiUrl, ...me });
      return;
    }
    this.out(`${me.name ?? me.userId} (${me.role}) at ${this.api.apiUrl}`);
    this.out(`permissions: ${me.permissions.join(', ')}`);
  }
}
