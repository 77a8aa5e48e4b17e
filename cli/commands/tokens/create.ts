import { Flags } from '@oclif/core';
import { PERMISSIONS } from '../../../core/auth/principal.js';
import { parseDuration } from '../../../core/auth/token-expiry.js';
import { BaseCommand } from '../../lib/base-command.js';
import { UsageError } from '../../lib/errors.js';

export default class TokensCreate extends BaseCommand {
  static override summary = 'Create an API token for a user (needs token:Manage).';
  static override description = `The user is created if needed. The token is printed once, on stdout, and cannot be shown again.

A user token gets job:Create and job:Read unless --permission narrows it. --admin makes the user an admin and gives the token every permission: job:ReadAll and job:ManageAll (see and change every user's jobs), token:Manage (tokens) and dlq:Manage (dead letters); with --permission it gets only those listed. Admin permissions need --admin (or a user who is an admin already); a token can grant only permissions its creator's token holds.

--expires sets a lifetime (90d, 12h, 30m, 2w) or an instant (ISO 8601); past it the token is refused (401 "token expired"). Without it the token never expires.`;

  static override examples = [
    'TOKEN=$(<%= config.bin %> <%= command.id %> --user alice --name laptop --expires 90d)',
    '<%= config.bin %> <%= command.id %> --user reporting --permission job:Read --json',
    '<%= config.bin %> <%= command.id %> --user ops --admin',
    '<%= config.bin %> <%= command.id %> --user support --admin --permission job:Read --permission job:ReadAll',
  ];

  static override flags = {
    user: Flags.string({ char: 'u', description: 'user name', required: true }),
    admin: Flags.boolean({ description: 'an admin token (every permission unless --permission narrows it)' }),
    name: Flags.string({ description: 'a label for the token' }),
    permission: Flags.string({
      description: 'a permission to grant (repeatable; default job:Create and job:Read, or all with --admin)',
      options: [...PERMISSIONS],
      multiple: true,
      multipleNonGreedy: true,
    }),
    expires: Flags.string({
      description: 'expire after a duration (90d, 12h, 30m, 2w) or at an ISO 8601 instant; default never',
    }),
  };

  async run(): Promise<void> {
    const { flags } = await this.parse(TokensCreate);
    const created = await this.api.createToken({
      user: flags.user,
      admin: flags.admin || undefined,
      name: flags.name,
      permissions: flags.permission?.length ? [...new Set(flags.permission)] : undefined,
      ...expiry(flags.expires),
    });
    if (this.json) {
      const { id, token, userId, role } = created;
      this.printJson({ id, token, userId, role });
      return;
    }
    const until = created.expiresAt ? `, expires ${created.expiresAt}` : '';
    this.note(
      `Created ${created.role} token ${created.id} for ${flags.user} (${created.permissions.join(', ')}${until}).`,
    );
    this.out(created.token);
    this.note('Store it now: it will not be shown again.');
  }
}

/** `--expires`: a duration becomes `expiresIn`, an instant `expiresAt`; the server checks the range. */
function expiry(text: string | undefined): { expiresIn?: string; expiresAt?: string } {
  if (text === undefined) return {};
  if (parseDuration(text) !== undefined) return { expiresIn: text.trim() };
  if (/^\d{4}-\d{2}-\d{2}/.test(text) && !Number.isNaN(new Date(text).getTime())) {
    return { expiresAt: new Date(text).toISOString() };
  }
  throw new UsageError(
    `--expires takes a duration (90d, 12h, 30m, 2w) or an ISO 8601 instant, got "${text}"`,
  );
}
