import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ROOT, runCli } from './helpers/run-cli.js';

/**
 * `jobs synth/deploy/diff/destroy` spawned as a user runs them. There is no AWS here: deploy,
 * diff and destroy run against a recording stand-in for terraform/tofu placed on PATH (a shell
 * script that logs its arguments and directory), which is the boundary these commands own;
 * the JSON they hand it is validated by real terraform in test/stacks/terraform-validate.test.ts,
 * and `jobs diff` runs the real terraform offline below (init for real; plan up to credentials).
 */
let work: string;
let zip: string;
const emptyBin = () => fs.mkdtempSync(path.join(work, 'bin-'));

/** A PATH with only a fake `name` that logs "<cwd> <args>" and exits with `code` for `failOn`. */
function fakeTerraform(
  name: 'terraform' | 'tofu',
  log: string,
  failOn?: { command: string; code: number },
): string {
  const dir = emptyBin();
  const fail = failOn ? `if [ "$1" = "${failOn.command}" ]; then exit ${failOn.code}; fi\n` : '';
  fs.writeFileSync(path.join(dir, name), `#!/bin/sh\necho "$(pwd) $*" >> "${log}"\n${fail}exit 0\n`, {
    mode: 0o755,
  });
  return dir;
}
const logLines = (log: string) =>
  fs.existsSync(log)
    ? fs
        .readFileSync(log, 'utf8')
        .trim()
        .split('\n')
        .map((l) => l.replace(work, '<work>'))
    : [];

beforeAll(() => {
  work = fs.mkdtempSync(path.join(os.tmpdir(), 'jobs-infra-cli-'));
  zip = path.join(work, 'processor.zip');
  fs.writeFileSync(zip, 'a stand-in bundle');
});
afterAll(() => fs.rmSync(work, { recursive: true, force: true }));

const jobs = (args: string[], env: Record<string, string | undefined> = {}, cwd = work) =>
  runCli(args, { cwd, env, timeoutMs: 60_000 });

describe('jobs synth', () => {
  it('writes the Terraform JSON offline, in seconds, and prints where', async () => {
    const started = Date.now();
    const r = await jobs(['synth', '--env', 'qa', '--zip', zip]);
    const seconds = (Date.now() - started) / 1000;
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout.trim()).toBe(path.join('cdktf.out', 'stacks', 'jobs-qa', 'cdk.tf.json'));
    const tf = JSON.parse(fs.readFileSync(path.join(work, r.stdout.trim()), 'utf8'));
    expect(Object.keys(tf.resource.aws_lambda_function)).toHaveLength(1);
    // qa keeps local state, in the directory jobs ran in, wherever the JSON goes.
    expect(path.resolve(work, 'cdktf.out', 'stacks', 'jobs-qa', tf.terraform.backend.local.path)).toBe(
      path.join(work, 'terraform.jobs-qa.tfstate'),
    );
    const asset = Object.values<{ filename: string }>(tf.resource.aws_lambda_function)[0].filename;
    expect(fs.readFileSync(path.join(work, 'cdktf.out', 'stacks', 'jobs-qa', asset), 'utf8')).toBe(
      'a stand-in bundle',
    );
    expect(seconds).toBeLessThan(30); // ~2 s here; slack for a loaded machine
  });

  it('with --json prints the stacks; JOBS_DEPLOY_ENV, JOBS_ALARM_EMAIL and JOBS_STATE_* apply', async () => {
    const out = path.join(work, 'out-json');
    const r = await jobs(['synth', '--out', out, '--zip', zip, '--json'], {
      JOBS_DEPLOY_ENV: 'prod',
      JOBS_ALARM_EMAIL: 'pager@example.org',
      JOBS_STATE_BUCKET: 'acme-terraform-state',
      JOBS_STATE_LOCK_TABLE: 'acme-terraform-locks',
    });
    expect(r.code).toBe(0);
    const printed = JSON.parse(r.stdout);
    const dir = path.join(out, 'stacks', 'jobs-prod');
    expect(printed).toEqual({
      outdir: out,
      stacks: [{ id: 'jobs-prod', environment: 'prod', dir, file: path.join(dir, 'cdk.tf.json') }],
    });
    const tf = JSON.parse(fs.readFileSync(printed.stacks[0].file, 'utf8'));
    // prod's state is in S3 (encrypted, locked), here in the bucket and table from the environment.
    expect(tf.terraform.backend).toEqual({
      s3: {
        bucket: 'acme-terraform-state',
        key: 'jobs/prod.tfstate',
        region: 'eu-west-1',
        encrypt: true,
        dynamodb_table: 'acme-terraform-locks',
      },
    });
    expect(Object.values<{ endpoint: string }>(tf.resource.aws_sns_topic_subscription)[0].endpoint).toBe(
      'pager@example.org',
    );
  });

  it('synthesizes several environments at once', async () => {
    const r = await jobs(['synth', '--env', 'qa', '--env', 'prod', '--out', 'both', '--zip', zip]);
    expect(r.code).toBe(0);
    expect(r.stdout.trim().split('\n')).toEqual([
      path.join('both', 'stacks', 'jobs-qa', 'cdk.tf.json'),
      path.join('both', 'stacks', 'jobs-prod', 'cdk.tf.json'),
    ]);
  });

  it('names the known environments for an unknown one, and a missing bundle', async () => {
    const r = await jobs(['synth', '--env', 'staging', '--zip', zip]);
    expect(r.code).toBe(1);
    expect(r.stderr.trim()).toBe('unknown environment "staging"; known: qa, prod');
    const j = await jobs(['synth', '--zip', path.join(work, 'nope.zip'), '--json']);
    expect(j.code).toBe(1);
    expect(JSON.parse(j.stdout)).toEqual({
      error: {
        code: 'not_found',
        message: `the processor bundle ${path.join(work, 'nope.zip')} does not exist`,
      },
    });
  });
});

describe('CLI start-up', () => {
  it('loads no cdktf or provider module until a stacks command runs', () => {
    // Every command file is imported at start (oclif lists them); the provider bindings are
    // hundreds of MB, so they must come in only through synth's dynamic import.
    const loadedBy = (files: string) =>
      Number(
        spawnSync(
          process.execPath,
          [
            '--input-type=module',
            '-e',
            `import fs from 'node:fs'; import path from 'node:path'; import { createRequire } from 'node:module';
             for (const f of ${files}) await import(f);
             const cache = Object.keys(createRequire(import.meta.url).cache);
             console.log(cache.filter((p) => /node_modules[\\/](cdktf|@cdktf)[\\/]/.test(p)).length);`,
          ],
          { encoding: 'utf8' },
        ).stdout.trim(),
      );
    const commands = path.join(ROOT, 'dist', 'cli', 'commands');
    const all = `fs.readdirSync(${JSON.stringify(commands)}, { recursive: true }).filter((f) => f.endsWith('.js')).map((f) => path.join(${JSON.stringify(commands)}, f))`;
    expect(loadedBy(all)).toBe(0);
    // The probe does see them when the stacks are imported.
    expect(loadedBy(JSON.stringify([path.join(ROOT, 'dist', 'stacks', 'main.js')]))).toBeGreaterThan(100);
  });
});

describe('jobs deploy, diff and destroy', () => {
  it.each([['deploy'], ['diff'], ['destroy']])(
    '%s says in one sentence that neither terraform nor tofu is installed, before doing anything',
    async (command) => {
      const cwd = fs.mkdtempSync(path.join(work, 'none-'));
      const r = await jobs([command, '--env', 'qa', '--zip', zip], { PATH: emptyBin() }, cwd);
      expect(r.code).toBe(1);
      expect(r.stdout).toBe('');
      const line = r.stderr.trim();
      expect(line.split('\n')).toHaveLength(1);
      expect(line).toMatch(/^neither terraform nor tofu is installed/);
      expect(fs.existsSync(path.join(cwd, 'cdktf.out'))).toBe(false);
    },
  );

  it('deploy --auto-approve runs terraform init and apply in the synthesized stack', async () => {
    const log = path.join(work, 'deploy.log');
    const r = await jobs(['deploy', '--env', 'qa', '--zip', zip, '--auto-approve'], {
      PATH: fakeTerraform('terraform', log),
    });
    expect(r.stderr).toContain('terraform apply -input=false -auto-approve: jobs-qa');
    expect(r.code).toBe(0);
    expect(r.stdout.trim()).toBe('deployed jobs-qa');
    const stack = '<work>/cdktf.out/stacks/jobs-qa';
    expect(logLines(log)).toEqual([
      '<work> version',
      `${stack} init -input=false`,
      `${stack} apply -input=false -auto-approve`,
    ]);
    expect(fs.existsSync(path.join(work, 'cdktf.out', 'stacks', 'jobs-qa', 'cdk.tf.json'))).toBe(true);
  });

  it('diff runs plan, destroy asks (no -auto-approve) — with tofu when terraform is absent', async () => {
    const log = path.join(work, 'tofu.log');
    const PATH = fakeTerraform('tofu', log);
    const diff = await jobs(['diff', '--env', 'prod', '--zip', zip, '--json'], { PATH });
    expect(diff.code).toBe(0);
    expect(JSON.parse(diff.stdout)).toEqual({ terraform: 'tofu', stacks: ['jobs-prod'] });
    const destroy = await jobs(['destroy', '--env', 'prod', '--zip', zip], { PATH });
    expect(destroy.code).toBe(0);
    const stack = '<work>/cdktf.out/stacks/jobs-prod';
    expect(logLines(log)).toEqual([
      '<work> version',
      `${stack} init -input=false`,
      `${stack} plan -input=false`,
      '<work> version',
      `${stack} init -input=false`,
      `${stack} destroy`,
    ]);
  });

  it('fails with exit code 1 when terraform fails, naming the command and the stack', async () => {
    const log = path.join(work, 'fail.log');
    const PATH = fakeTerraform('terraform', log, { command: 'apply', code: 3 });
    const r = await jobs(['deploy', '--env', 'qa', '--zip', zip, '--auto-approve'], { PATH });
    expect(r.code).toBe(1);
    expect(r.stderr.trim().split('\n').pop()).toBe(
      `terraform apply exited with code 3 in ${path.join('cdktf.out', 'stacks', 'jobs-qa')}`,
    );
  });
});

// Real terraform, offline: providers from a local mirror, no credentials, and every proxy pointed
// at a closed loopback port, so nothing can leave the machine. `init` runs for real on the
// synthesized stack; `plan` then stops at the AWS provider's credentials, which is the error
// path a user without credentials sees.
const mirror = process.env.TF_PROVIDER_MIRROR ?? '/opt/tf-plugins';
const realTerraform =
  spawnSync('terraform', ['version'], { stdio: 'ignore', env: { ...process.env, CHECKPOINT_DISABLE: '1' } })
    .status === 0 && fs.existsSync(path.join(mirror, 'registry.terraform.io', 'hashicorp', 'aws', '5.100.0'));
(realTerraform ? describe : describe.skip)('jobs diff with the real terraform (offline)', () => {
  it('initializes the stack for real and reports plan failing for want of credentials', async () => {
    const cwd = fs.mkdtempSync(path.join(work, 'real-'));
    const rc = path.join(cwd, 'terraformrc');
    fs.writeFileSync(
      rc,
      `provider_installation {\n  filesystem_mirror {\n    path = "${mirror}"\n  }\n}\ndisable_checkpoint = true\n`,
    );
    const empty = path.join(cwd, 'empty');
    fs.writeFileSync(empty, '');
    const closed = 'http://127.0.0.1:9';
    const r = await jobs(
      ['diff', '--env', 'qa', '--zip', zip],
      {
        TF_CLI_CONFIG_FILE: rc,
        CHECKPOINT_DISABLE: '1',
        TF_IN_AUTOMATION: '1',
        NO_COLOR: '1',
        AWS_EC2_METADATA_DISABLED: 'true',
        AWS_CONFIG_FILE: empty,
        AWS_SHARED_CREDENTIALS_FILE: empty,
        AWS_PROFILE: 'jobs-test-no-such-profile',
        AWS_ACCESS_KEY_ID: undefined,
        AWS_SECRET_ACCESS_KEY: undefined,
        AWS_SESSION_TOKEN: undefined,
        HTTPS_PROXY: closed,
        HTTP_PROXY: closed,
        https_proxy: closed,
        http_proxy: closed,
        NO_PROXY: undefined,
        no_proxy: undefined,
      },
      cwd,
    );
    const stackDir = path.join(cwd, 'cdktf.out', 'stacks', 'jobs-qa');
    const lock = fs.readFileSync(path.join(stackDir, '.terraform.lock.hcl'), 'utf8');
    expect(lock).toContain('provider "registry.terraform.io/hashicorp/aws"');
    expect(lock).toContain('version     = "5.100.0"');
    expect(r.stderr).toContain('failed to get shared config profile, jobs-test-no-such-profile');
    expect(r.code).toBe(1);
    expect(r.stderr.trim().split('\n').pop()).toBe(
      `terraform plan exited with code 1 in ${path.join('cdktf.out', 'stacks', 'jobs-qa')}`,
    );
  }, 180_000); // terraform loads a 700 MB provider binary: slow on a loaded machine
});

describe('jobs deploy --processor-only (usage)', () => {
  it('needs a function name', async () => {
    const r = await jobs(['deploy', '--processor-only', '--zip', zip]);
    expect(r.code).toBe(2);
    expect(r.stderr.trim()).toBe(
      '--processor-only needs the function: pass --function NAME or set JOBS_LAMBDA_FUNCTION_NAME',
    );
  });
  it('does not mix with the Terraform flags', async () => {
    const r = await jobs(['deploy', '--processor-only', '--env', 'qa', '--function', 'f']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(
      /--env=qa cannot also be provided when using --processor-only|cannot also be provided/,
    );
  });
});
