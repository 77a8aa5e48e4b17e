import { BaseCommand } from '../../lib/base-command.js';
import { formatDate } from '../../lib/format.js';
import { renderTable } from '../../lib/table.js';

export default class TokensList extends BaseCommand {
  static override summary = 'List API tokens (admins).';
  static override examples = [
    '<%= config.bin %> <%= command.id %>',
    '<%= config.bin %> <%= command.id %> --json',
  ];

  async run(): Promise<void> {
    await this.parse(TokensList);
    const page = await this.api.listTokens();
    if (this.json) {
      this.printJson(page);
      return;
    }
    if (page.items.length === 0) {
      this.note('No tokens.');
      return;
    }
    this.out(
      renderTable(
        ['id', 'name', 'user', 'role', 'permissions', 'created', 'last used', 'revoked'],
        page.items.map((t) => [
          t.id,
          t.name ?? '-',
          t.userName,
          t.role,
          t.permissions.join(', '),
          formatDate(t.createdAt),
          formatDate(t.lastUsedAt),
          formatDate(t.revokedAt),
        ]),
      ),
    );
  }
}
