import { Args } from '@oclif/core';
import { BaseCommand } from '../../lib/base-command.js';

export default class TokensRevoke extends BaseCommand {
  static override summary = 'Revoke an API token (needs token:Manage).';
  static override examples = ['<%= config.bin %> <%= command.id %> 8d2e…'];

  static override args = {
    id: Args.string({ description: 'token id (see `jobs tokens list`)', required: true }),
  };

  async run(): Promise<void> {
    const { args } = await this.parse(TokensRevoke);
    const token = await this.api.revokeToken(args.id);
    if (this.json) this.printJson(token);
    else this.out(`Revoked token ${token.id}${token.name ? ` (${token.name})` : ''} of ${token.userName}`);
  }
}
