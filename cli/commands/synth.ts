import path from 'node:path';
import { Flags } from '@oclif/core';
import { BaseCommand } from '../lib/base-command.js';
import { requireExtras } from '../lib/extras.js';
import { existingZip, synthStacks } from '../lib/infra.js';
import { stackFlags } from '../lib/infra-flags.js';

export default class Synth extends BaseCommand {
  static override summary = 'Write the Terraform JSON of the AWS stacks (cdktf, offline).';
  static override description = `Synthesizes stacks/ for an environment (stacks/config/<env>.ts) into <out>/stacks/jobs-<env>/cdk.tf.json, with the processor zip copied beside it as an asset, and checks it against the guardrails (encryption, nothing public, no wildcard actions, Lambda in the VPC, DLQ, redrive, alarms): a stack that breaks one is refused. Needs dist-lambda/processor.zip (\`npm run build:lambda\`) or --zip. No AWS access, no terraform needed.`;
  static override examples = [
    '<%= config.bin %> <%= command.id %> --env qa',
    '<%= config.bin %> <%= command.id %> --env qa --env prod --out build/terraform --json',
  ];
  static override flags = {
    ...stackFlags,
    zip: Flags.string({ description: 'processor bundle to use (default dist-lambda/processor.zip)' }),
  };

  async run(): Promise<void> {
    const { flags } = await this.parse(Synth);
    requireExtras('infra', 'synth');
    const { outdir, stacks } = await synthStacks({
      environments: flags.env ?? [],
      outdir: flags.out,
      processorZipPath: flags.zip ? existingZip(flags.zip) : undefined,
    });
    if (this.json) this.printJson({ outdir, stacks });
    else for (const s of stacks) this.out(path.relative(process.cwd(), s.file) || s.file);
  }
}
