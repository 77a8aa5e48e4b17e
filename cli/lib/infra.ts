import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { packageRoot } from '../../core/package-root.js';
import { CliError } from './errors.js';

/** The Terraform CLI found on PATH: HashiCorp's, or OpenTofu's (same commands, same JSON). */
export type TerraformBinary = 'terraform' | 'tofu';

export const NO_TERRAFORM_MESSAGE =
  'neither terraform nor tofu is installed (none on PATH): install Terraform ≥ 1.10 or OpenTofu ≥ 1.8 to deploy, diff or destroy, or use `jobs synth` to write the Terraform JSON without them';

/** terraform when it runs, else tofu; a CliError naming both when neither does. */
export async function findTerraform(): Promise<TerraformBinary> {
  for (const bin of ['terraform', 'tofu'] as const) {
    if (await runs(bin, ['version'])) return bin;
  }
  throw new CliError(NO_TERRAFORM_MESSAGE, 'terraform_missing');
}

function runs(bin: string, args: string[]): Promise<boolean> {
  return new Promise((resolve) => {
    const child = spawn(bin, args, { stdio: 'ignore' });
    child.on('error', () => resolve(false)); // ENOENT: not on PATH
    child.on('exit', (code) => resolve(code === 0));
  });
}

/**
 * Runs one Terraform command in a synthesized stack directory. Its output goes to the terminal
 * (to stderr under `--json`, which keeps stdout for the command's JSON); stdin stays attached so
 * `apply` and `destroy` can ask for confirmation.
 */
export function runTerraform(
  bin: TerraformBinary,
  args: string[],
  cwd: string,
  opts: { json: boolean },
): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(bin, args, {
      cwd,
      stdio: ['inherit', opts.json ? process.stderr : 'inherit', 'inherit'],
    });
    child.on('error', (err) => reject(new CliError(`cannot run ${bin}: ${err.message}`, 'terraform_failed')));
    child.on('exit', (code, signal) => {
      if (code === 0) resolve();
      else {
        const how = signal ? `was stopped by ${signal}` : `exited with code ${code}`;
        const where = path.relative(process.cwd(), cwd) || '.';
        reject(new CliError(`${bin} ${args[0]} ${how} in ${where}`, 'terraform_failed'));
      }
    });
  });
}

/**
 * Builds dist-lambda/processor.zip with scripts/build-lambda.mjs (esbuild), with the job types of
 * JOBS_HANDLERS bundled in; returns its path.
 */
export function buildProcessorZip(opts: { json: boolean }): Promise<string> {
  const root = packageRoot();
  const script = path.join(root, 'scripts', 'build-lambda.mjs');
  if (!fs.existsSync(script)) {
    throw new CliError(
      `cannot build the processor: ${script} is missing (run from a clone of jobs)`,
      'build_failed',
    );
  }
  return new Promise((resolve, reject) => {
    // In the caller's directory: JOBS_HANDLERS paths are relative to it, as for `jobs server`.
    const child = spawn(process.execPath, [script], {
      stdio: ['ignore', opts.json ? process.stderr : 'inherit', 'inherit'],
    });
    child.on('error', (err) =>
      reject(new CliError(`cannot build the processor: ${err.message}`, 'build_failed')),
    );
    child.on('exit', (code) => {
      if (code === 0) resolve(path.join(root, 'dist-lambda', 'processor.zip'));
      else
        reject(
          new CliError(
            `building the processor failed (build-lambda exited with code ${code})`,
            'build_failed',
          ),
        );
    });
  });
}

/** An existing zip given with --zip, checked. */
export function existingZip(file: string): string {
  const resolved = path.resolve(file);
  if (!fs.existsSync(resolved) || !fs.statSync(resolved).isFile()) {
    throw new CliError(`the processor bundle ${file} does not exist`, 'not_found');
  }
  return resolved;
}

export interface SynthesizedStack {
  id: string;
  environment: string;
  dir: string;
  file: string;
}

/**
 * Synthesizes the stacks. The stacks (cdktf and the AWS provider bindings, hundreds of MB) are
 * imported here, on demand, never when the CLI starts.
 */
export async function synthStacks(opts: {
  environments: string[];
  outdir: string;
  processorZipPath?: string;
}): Promise<{ outdir: string; stacks: SynthesizedStack[] }> {
  const { synthesize } = await import('../../stacks/main.js');
  try {
    return synthesize(opts, process.env);
  } catch (err) {
    const e = err as Error;
    if (e.name === 'StackConfigError') throw new CliError(e.message, 'invalid_stack_config');
    if (e.name === 'PolicyViolationError') throw new CliError(e.message, 'policy_violation');
    throw err;
  }
}

/**
 * `jobs deploy`, `diff` and `destroy`: find terraform (or tofu) first, so a machine without
 * either fails at once; build the processor zip (or take --zip); synthesize; then `init` and the
 * command in each stack directory, in order.
 */
export async function terraformFlow(opts: {
  environments: string[];
  outdir: string;
  zip?: string;
  command: string[];
  json: boolean;
  note: (text: string) => void;
}): Promise<{ bin: TerraformBinary; stacks: SynthesizedStack[] }> {
  const bin = await findTerraform();
  const processorZipPath = opts.zip ? existingZip(opts.zip) : await buildProcessorZip(opts);
  const { stacks } = await synthStacks({
    environments: opts.environments,
    outdir: opts.outdir,
    processorZipPath,
  });
  for (const s of stacks) {
    opts.note(`${bin} ${opts.command.join(' ')}: ${s.id} (${path.relative(process.cwd(), s.dir) || '.'})`);
    await runTerraform(bin, ['init', '-input=false'], s.dir, opts);
    await runTerraform(bin, opts.command, s.dir, opts);
  }
  return { bin, stacks };
}
