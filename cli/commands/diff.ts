import { BaseCommand } from '../lib/base-command.js';
import { requireExtras } from '../lib/extras.js';
import { terraformFlow } from '../lib/infra.js';
import { terraformFlags } from '../lib/infra-flags.js';

export default class Diff extends BaseCommand {
  static override summary = 'Show what `jobs deploy` would change in AWS (terraform plan).';
  static override description = `Builds the processor zip, synthesizes the environment's stack and runs \`terraform init\` and \`terraform plan\` in it (\`tofu\` when terraform is not installed). Uses your AWS credentials (AWS_PROFILE or the SDK's default chain); changes nothing.`;
  static override examples = ['<%= config.bin %> <%= command.id %> --env prod'];
  static override flags = terraformFlags;

  async run(): Promise<void> {
    const { flags } = await this.parse(Diff);
    requireExtras('infra', 'diff');
    const { bin, stacks } = await terraformFlow({
      environments: flags.env ?? [],
      outdir: flags.out,
      zip: flags.zip,
      command: ['plan', '-input=false'],
      json: this.json,
      note: (t) => this.note(t),
    });
    if (this.json) this.printJson({ terraform: bin, stacks: stacks.map((s) => s.id) });
  }
}
