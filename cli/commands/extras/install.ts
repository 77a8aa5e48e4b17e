import { Args } from '@oclif/core';
import { BaseCommand } from '../../lib/base-command.js';
import { extrasGroup, installExtras } from '../../lib/extras.js';

export default class ExtrasInstall extends BaseCommand {
  static override summary = 'Install the packages that the server or the infrastructure commands need.';
  static override description = `Runs npm install for the group's packages (pinned versions) into this package's own directory; a client install leaves them out. server: for server, worker, db migrate and doctor (PGlite, Prisma, Express, the AWS SDK). infra: for synth, deploy, diff and destroy (cdktf and the AWS provider, about 400 MB). Needs npm on PATH (or JOBS_NPM) and the registry; groups already installed stay.`;

  static override examples = [
    '<%= config.bin %> <%= command.id %> server',
    '<%= config.bin %> <%= command.id %> server infra',
  ];

  static override strict = false;
  static override args = {
    group: Args.string({ description: 'server or infra (several may be given)', required: true }),
  };

  async run(): Promise<void> {
    const { argv } = await this.parse(ExtrasInstall);
    const names = [...new Set(argv as string[])];
    // Unknown names are a usage error before npm runs.
    const todo = names.map((n) => extrasGroup(n)).filter((g) => g.missing.length > 0);
    if (todo.length === 0) {
      this.note(`Already installed: ${names.join(', ')}.`);
      if (this.json) this.printJson({ installed: names });
      return;
    }
    const spinner = this.spinner(`Installing the ${todo.map((g) => g.name).join(' and ')} extras with npm`);
    let output = '';
    try {
      await installExtras(
        todo.map((g) => g.name),
        { onOutput: (c) => (output = (output + c.toString()).slice(-4000)) },
      );
    } catch (err) {
      spinner.stop();
      if (output && !this.json) process.stderr.write(output.endsWith('\n') ? output : `${output}\n`);
      throw err;
    }
    spinner.stop();
    this.note(`Installed: ${names.join(', ')}.`);
    if (this.json) this.printJson({ installed: names });
  }
}
