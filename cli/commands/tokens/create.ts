import { Flags } from '@oclif/core';
import { BaseCommand } from '../../lib/base-command.js';

const PERMISSIONS = ['job:Create', 'job:Read'];

export default class TokensCreate extends BaseCommand {
  static override summary = 'Create an API token for a user (admins).';
  static override description = `The user is created if needed. The token is printed once, on stdout, and cannot be shown again. A user token gets job:Create and job:Read unless --permission narrows it; --admin makes an admin token, which sees and manages every job.`;

  static override examples = [
    'TOKEN=$(<%= config.bin %> <%= command.id %> --user alice --name laptop)',
    '<%= config.bin %> <%= command.id %> --user reporting --permission job:Read --json',
  ];

  static override flags = {
    user: Flags.string({ char: 'u', description: 'user name', required: true }),
    admin: Flags.boolean({ description: 'an admin token' }),
    name: Flags.string({ description: 'a label for the token' }),
    permission: Flags.string({
      description: 'a permission to grant (repeatable; default both)',
      options: PERMISSIONS,
      multiple: true,
      multipleNonGreedy: true,
    }),
  };

  async run(): Promise<void> {
    const { flags } = await this.parse(TokensCreate);
    const created = await this.api.createToken({
      user: flags.user,
      admin: flags.admin || undefined,
      name: flags.name,
      permissions: flags.permission?.length ? [...new Set(flags.permission)] : PERMISSIONS,
    });
    if (this.json) {
      const { id, token, userId, role } = created;
      this.printJson({ id, token, userId, role });
      return;
    }
    this.note(
      `Created ${created.role} token ${created.id} for ${flags.user} (${created.permissions.join(', ')}).`,
    );
    this.out(created.token);
    this.note('Store it now: it will not be shown again.');
  }
}
