import { BaseCommand } from '../lib/base-command.js';
import { requireExtras } from '../lib/extras.js';
import { terraformFlow } from '../lib/infra.js';
import { autoApprove, terraformFlags } from '../lib/infra-flags.js';

export default class Destroy extends BaseCommand {
  static override summary = "Delete an environment's AWS resources (terraform destroy).";
  static override description = `Builds the processor zip, synthesizes the environment's stack and runs \`terraform init\` and \`terraform destroy\` in it (\`tofu\` when terraform is not installed). Terraform asks for confirmation unless --auto-approve. A database with deletion protection (prod) is refused by AWS until protection is turned off in stacks/config.`;
  static override examples = [
    '<%= config.bin %> <%= command.id %> --env qa',
    '<%= config.bin %> <%= command.id %> --env qa --auto-approve',
  ];
  static override flags = { ...terraformFlags, 'auto-approve': autoApprove };

  async run(): Promise<void> {
    const { flags } = await this.parse(Destroy);
    requireExtras('infra', 'destroy');
    // Without -auto-approve terraform prompts, which -input=false would forbid.
    const command = flags['auto-approve'] ? ['destroy', '-input=false', '-auto-approve'] : ['destroy'];
    const { bin, stacks } = await terraformFlow({
      environments: flags.env ?? [],
      outdir: flags.out,
      zip: flags.zip,
      command,
      json: this.json,
      note: (t) => this.note(t),
    });
    if (this.json) this.printJson({ terraform: bin, destroyed: stacks.map((s) => s.id) });
  }
}
