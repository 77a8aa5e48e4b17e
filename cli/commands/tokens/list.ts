import { BaseCommand } from '../../lib/base-command.js';
import { formatTime } from '../../lib/format.js';
import { renderTable } from '../../lib/table.js';

export default class TokensList extends BaseCommand {
  static override summary = 'List API tokens (needs token:Manage).';
  static override description =
    'Every token (never its secret) with its user, role, effective permissions, when it was created and last used (updated at most once a minute), when it expires and whether it was revoked.';
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
        ['id', 'name', 'user', 'role', 'permissions', 'created', 'last used', 'expires', 'revoked'],
        page.items.map((t) => [
          t.id,
          t.name ?? '-',
          t.userName,
          t.role,
          t.permissions.join(', '),
          formatTime(t.createdAt),
          formatTime(t.lastUsedAt),
          expiryCell(t.expiresAt),
          formatTime(t.revokedAt),
        ]),
      ),
    );
  }
}

/** `never`, the date, or the date marked `(expired)` once past. */
function expiryCell(iso: string | null | undefined): string {
  if (!iso) return 'never';
  return new Date(iso).getTime() <= Date.now() ? `${formatTime(iso)} (expired)` : formatTime(iso);
}
