import { BaseCommand } from '../lib/base-command.js';
import { jobTypeRow } from '../lib/format.js';
import { renderTable } from '../lib/table.js';

export default class Types extends BaseCommand {
  static override summary = 'List the registered job types and their parameters.';
  static override description =
    'Parameters show as name:type=default; input tells whether a FILE is required, optional or not taken.';
  static override examples = [
    '<%= config.bin %> <%= command.id %>',
    '<%= config.bin %> <%= command.id %> --json',
  ];

  async run(): Promise<void> {
    await this.parse(Types);
    const types = await this.api.jobTypes();
    if (this.json) {
      this.printJson(types);
      return;
    }
    this.out(renderTable(['type', 'description', 'input', 'params'], types.map(jobTypeRow)));
  }
}
