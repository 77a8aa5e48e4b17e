import { Flags } from '@oclif/core';

/** Flags shared by `jobs synth`, `deploy`, `diff` and `destroy`. */
export const stackFlags = {
  env: Flags.string({
    description: 'environment(s) from stacks/config (repeatable); default JOBS_DEPLOY_ENV, else qa',
    multiple: true,
  }),
  out: Flags.string({ description: 'directory for the Terraform JSON', default: 'cdktf.out' }),
};

/** Flags of the commands that run Terraform. */
export const terraformFlags = {
  ...stackFlags,
  zip: Flags.string({
    description: 'use this processor bundle instead of building dist-lambda/processor.zip',
  }),
};

/** `--auto-approve`, passed on to terraform apply/destroy. */
export const autoApprove = Flags.boolean({
  description: 'apply without asking (passed on to terraform as -auto-approve)',
});
