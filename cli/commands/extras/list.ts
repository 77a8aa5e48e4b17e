import { BaseCommand } from '../../lib/base-command.js';
import { extrasGroups } from '../../lib/extras.js';
import { renderTable } from '../../lib/table.js';

export default class ExtrasList extends BaseCommand {
  static override summary = 'Show the optional package groups and whether they are installed.';
  static override description =
    'A client install (npm install -g) carries what the API commands need. The server (server, worker, db migrate, doctor) and the infrastructure commands (synth, deploy, diff, destroy) need more packages, grouped as extras and added with `jobs extras install GROUP`. A dev checkout has them all.';

  static override examples = [
    '<%= config.bin %> <%= command.id %>',
    '<%= config.bin %> <%= command.id %> --json',
  ];

  async run(): Promise<void> {
    await this.parse(ExtrasList);
    const groups = extrasGroups();
    if (this.json) {
      this.printJson(
        groups.map((g) => ({
          name: g.name,
          installed: g.missing.length === 0,
          commands: g.commands,
          packages: g.specs,
          missing: g.missing,
        })),
      );
      return;
    }
    this.out(
      renderTable(
        ['group', 'state', 'for', 'packages'],
        groups.map((g) => [
          g.name,
          g.missing.length === 0 ? 'installed' : `missing ${g.missing.length} of ${g.specs.length}`,
          g.commands.join(', '),
          g.description,
        ]),
      ),
    );
  }
}
