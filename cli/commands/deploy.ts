import { Flags } from '@oclif/core';
import { loadConfig } from '../../core/config.js';
import { BaseCommand } from '../lib/base-command.js';
import { requireExtras } from '../lib/extras.js';
import { UsageError } from '../lib/errors.js';
import { buildProcessorZip, existingZip, terraformFlow } from '../lib/infra.js';
import { autoApprove, terraformFlags } from '../lib/infra-flags.js';

export default class Deploy extends BaseCommand {
  static override summary = 'Deploy an environment to AWS (terraform apply), or only new processor code.';
  static override description = `Builds the processor zip (npm run build:lambda), synthesizes the environment's stack (stacks/config/<env>.ts) and runs \`terraform init\` and \`terraform apply\` in it, \`tofu\` when terraform is not installed; terraform asks before changing anything unless --auto-approve. Uses your AWS credentials (AWS_PROFILE or the SDK's default chain).

With --processor-only, no Terraform: the zip is published to the existing function (--function, else JOBS_LAMBDA_FUNCTION_NAME) with Lambda's UpdateFunctionCode, and the command waits until the new code is live.`;
  static override examples = [
    '<%= config.bin %> <%= command.id %> --env qa',
    '<%= config.bin %> <%= command.id %> --env prod --auto-approve',
    'JOBS_LAMBDA_FUNCTION_NAME=jobs-prod-processor <%= config.bin %> <%= command.id %> --processor-only',
  ];
  static override flags = {
    ...terraformFlags,
    'auto-approve': autoApprove,
    'processor-only': Flags.boolean({
      description: 'only publish new processor code to the existing Lambda (UpdateFunctionCode)',
      exclusive: ['auto-approve', 'env', 'out'],
    }),
    function: Flags.string({
      description: 'the processor function for --processor-only (default JOBS_LAMBDA_FUNCTION_NAME)',
      dependsOn: ['processor-only'],
    }),
  };

  async run(): Promise<void> {
    const { flags } = await this.parse(Deploy);
    requireExtras('infra', 'deploy');
    if (flags['processor-only']) return this.processorOnly(flags.function, flags.zip);
    const command = flags['auto-approve'] ? ['apply', '-input=false', '-auto-approve'] : ['apply'];
    const { bin, stacks } = await terraformFlow({
      environments: flags.env ?? [],
      outdir: flags.out,
      zip: flags.zip,
      command,
      json: this.json,
      note: (t) => this.note(t),
    });
    if (this.json) this.printJson({ terraform: bin, deployed: stacks.map((s) => s.id) });
    else this.out(`deployed ${stacks.map((s) => s.id).join(', ')}`);
  }

  private async processorOnly(functionFlag: string | undefined, zipFlag: string | undefined): Promise<void> {
    const config = loadConfig(process.env);
    const functionName = functionFlag ?? config.lambdaFunctionName;
    if (!functionName) {
      throw new UsageError(
        '--processor-only needs the function: pass --function NAME or set JOBS_LAMBDA_FUNCTION_NAME',
      );
    }
    const zipPath = zipFlag ? existingZip(zipFlag) : await buildProcessorZip({ json: this.json });
    const { LambdaClient } = await import('@aws-sdk/client-lambda');
    const { publishProcessor } = await import('../lib/infra-publish.js');
    const lambda = new LambdaClient({ region: config.awsRegion });
    const spinner = this.spinner(`Publishing the processor to ${functionName}`);
    try {
      const result = await publishProcessor({ lambda, functionName, zipPath });
      spinner.stop();
      if (this.json) this.printJson(result);
      else
        this.out(`published ${result.codeSize} bytes to ${functionName} (code SHA-256 ${result.codeSha256})`);
    } finally {
      spinner.stop();
      lambda.destroy();
    }
  }
}
