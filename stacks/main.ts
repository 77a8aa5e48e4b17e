/**
 * The entry point of the stacks, and the only module here that reads the environment: it turns
 * variables and the `jobs synth` flags into typed options, builds the app, synthesizes it and
 * refuses a stack that breaks a guardrail (./policy.ts).
 *
 *   node dist/stacks/main.js qa prod      # what `jobs synth --env qa` does, for scripts
 */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { packageRoot } from '../core/package-root.js';
import { buildJobsApp, StackConfigError, stackId } from './app.js';
import { checkStack, formatViolations, type Violation } from './policy.js';

/** Variables read here (README "Deploy to AWS"). */
export interface StackEnvironment {
  /** Environment when `--env` is not given (default qa). */
  JOBS_DEPLOY_ENV?: string;
  /** Alarm mail address, instead of the one in the environment's config file. */
  JOBS_ALARM_EMAIL?: string;
  /** S3 bucket of the Terraform state, instead of the config's (every synthesized environment). */
  JOBS_STATE_BUCKET?: string;
  /** Region of that bucket (default: the config's, else the environment's region). */
  JOBS_STATE_REGION?: string;
  /** DynamoDB lock table; without one the state is locked by an S3 lock file. */
  JOBS_STATE_LOCK_TABLE?: string;
}

export interface SynthOptions {
  /** Environment names; default JOBS_DEPLOY_ENV, else qa. */
  environments?: string[];
  /** Output directory (default ./cdktf.out). */
  outdir?: string;
  /** The processor zip (default dist-lambda/processor.zip in the package). */
  processorZipPath?: string;
}

export interface SynthesizedStack {
  id: string;
  environment: string;
  /** Directory to run terraform in. */
  dir: string;
  /** The Terraform JSON. */
  file: string;
}

export class PolicyViolationError extends Error {
  override name = 'PolicyViolationError';
  constructor(readonly violations: Violation[]) {
    super(
      `the stacks break ${violations.length} guardrail${violations.length === 1 ? '' : 's'}: ${formatViolations(violations).replace(/\n/g, '; ')}`,
    );
  }
}

export const defaultZipPath = () => path.join(packageRoot(), 'dist-lambda', 'processor.zip');

/** Synthesizes the requested environments to Terraform JSON and checks it. */
export function synthesize(
  opts: SynthOptions = {},
  env: Record<string, string | undefined> = process.env,
): { outdir: string; stacks: SynthesizedStack[] } {
  const vars: StackEnvironment = {
    JOBS_DEPLOY_ENV: env.JOBS_DEPLOY_ENV || undefined,
    JOBS_ALARM_EMAIL: env.JOBS_ALARM_EMAIL || undefined,
    JOBS_STATE_BUCKET: env.JOBS_STATE_BUCKET || undefined,
    JOBS_STATE_REGION: env.JOBS_STATE_REGION || undefined,
    JOBS_STATE_LOCK_TABLE: env.JOBS_STATE_LOCK_TABLE || undefined,
  };
  const environments = opts.environments?.length ? opts.environments : [vars.JOBS_DEPLOY_ENV ?? 'qa'];
  const outdir = path.resolve(opts.outdir ?? 'cdktf.out');
  const processorZipPath = path.resolve(opts.processorZipPath ?? defaultZipPath());
  if (!fs.existsSync(processorZipPath)) {
    throw new StackConfigError(
      `the processor bundle ${processorZipPath} does not exist; build it with \`npm run build:lambda\``,
    );
  }
  const { app, stacks: built } = buildJobsApp({
    environments,
    outdir,
    processorZipPath,
    alarmEmail: vars.JOBS_ALARM_EMAIL,
    stateBackend: {
      bucket: vars.JOBS_STATE_BUCKET,
      region: vars.JOBS_STATE_REGION,
      dynamodbTable: vars.JOBS_STATE_LOCK_TABLE,
    },
    // Local state (environments without a stateBackend) lives where `jobs` runs, whatever --out
    // is; Terraform resolves the path from the stack's directory.
    localStateDir: path.relative(path.join(outdir, 'stacks', 'stack'), process.cwd()) || '.',
  });
  app.synth();
  const stacks = environments.map((environment) => {
    const id = stackId(environment);
    const dir = path.join(outdir, 'stacks', id);
    return { id, environment, dir, file: path.join(dir, 'cdk.tf.json') };
  });
  const violations = stacks.flatMap((s, i) =>
    checkStack(JSON.parse(fs.readFileSync(s.file, 'utf8')), {
      requireRemoteState: built[i].environment.requireRemoteState,
    }).map((v) => ({
      ...v,
      resource: `${s.id}: ${v.resource}`,
    })),
  );
  if (violations.length > 0) throw new PolicyViolationError(violations);
  return { outdir, stacks };
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  try {
    const { stacks } = synthesize({ environments: process.argv.slice(2) });
    for (const s of stacks) console.log(path.relative(process.cwd(), s.file));
  } catch (err) {
    console.error((err as Error).message);
    process.exitCode = 1;
  }
}
