import { beforeAll, describe, expect, it } from '@jest/globals';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { synthesize } from '../../stacks/main.js';
import { fixtureZip } from './synth-helpers.js';

/**
 * The synthesized JSON through real Terraform: `terraform init` + `terraform validate` check
 * every resource and attribute against the AWS provider's schema. Offline only: the provider
 * comes from a local mirror (TF_PROVIDER_MIRROR, default /opt/tf-plugins, holding
 * registry.terraform.io/hashicorp/aws/5.100.0); without terraform or the mirror this suite is
 * skipped. validate never calls AWS.
 */
const mirror = process.env.TF_PROVIDER_MIRROR ?? '/opt/tf-plugins';
// CHECKPOINT_DISABLE: terraform would otherwise ask HashiCorp's server for a newer version.
const hasTerraform =
  spawnSync('terraform', ['version'], { stdio: 'ignore', env: { ...process.env, CHECKPOINT_DISABLE: '1' } })
    .status === 0;
const hasProvider = fs.existsSync(path.join(mirror, 'registry.terraform.io', 'hashicorp', 'aws', '5.100.0'));
const suite = hasTerraform && hasProvider ? describe : describe.skip;

suite('terraform validate (provider hashicorp/aws 5.100.0 from a local mirror)', () => {
  let dir: string;
  let env: Record<string, string>;
  beforeAll(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'jobs-tf-validate-'));
    const rc = path.join(dir, 'terraformrc');
    // Only the filesystem mirror: terraform must not reach for the registry.
    fs.writeFileSync(
      rc,
      `provider_installation {\n  filesystem_mirror {\n    path = "${mirror}"\n  }\n}\ndisable_checkpoint = true\n`,
    );
    env = {
      ...(process.env as Record<string, string>),
      TF_CLI_CONFIG_FILE: rc,
      CHECKPOINT_DISABLE: '1',
      TF_IN_AUTOMATION: '1',
    };
  });

  it.each([['qa'], ['prod']])(
    'accepts the %s stack',
    (name) => {
      const { stacks } = synthesize(
        { environments: [name], outdir: path.join(dir, 'out'), processorZipPath: fixtureZip() },
        {},
      );
      const cwd = stacks[0].dir;
      const init = spawnSync('terraform', ['init', '-input=false', '-backend=false', '-no-color'], {
        cwd,
        env,
        encoding: 'utf8',
      });
      expect(init.stderr).toBe('');
      expect(init.status).toBe(0);
      const validate = spawnSync('terraform', ['validate', '-json', '-no-color'], {
        cwd,
        env,
        encoding: 'utf8',
      });
      const result = JSON.parse(validate.stdout) as {
        valid: boolean;
        diagnostics: { summary: string; detail: string }[];
      };
      expect(result.diagnostics).toEqual([]);
      expect(result.valid).toBe(true);
    },
    180_000,
  );
});
