import { App } from 'cdktf';
import { checkEnvironment, environments } from './config/index.js';
import type { EnvironmentConfig, S3StateBackend } from './config/types.js';
import { JobsStack } from './jobs-stack.js';

export interface JobsAppOptions {
  /** Environment names to synthesize (keys of `stacks/config`). */
  environments: string[];
  /** Where the Terraform JSON goes: `<outdir>/stacks/jobs-<env>/cdk.tf.json`. */
  outdir: string;
  processorZipPath: string;
  alarmEmail?: string;
  /** Directory of local state files, relative to a stack's directory (see JobsStackOptions). */
  localStateDir?: string;
  /**
   * Overrides of the state backend (JOBS_STATE_*): with a bucket, every environment keeps its
   * state there (under its own key); without one, the region and lock table apply to the
   * environments that have a backend.
   */
  stateBackend?: Partial<Pick<S3StateBackend, 'bucket' | 'region' | 'dynamodbTable'>>;
  /** Environment configurations to choose from (default: `stacks/config`). */
  known?: Readonly<Record<string, EnvironmentConfig>>;
}

export class StackConfigError extends Error {
  override name = 'StackConfigError';
}

/** The stack id of an environment, also its directory under `<outdir>/stacks`. */
export const stackId = (env: string) => `jobs-${env}`;

/** Builds the cdktf app with one `JobsStack` per requested environment (not yet synthesized). */
export function buildJobsApp(opts: JobsAppOptions): { app: App; stacks: JobsStack[] } {
  const known = opts.known ?? environments;
  const app = new App({ outdir: opts.outdir, skipValidation: false });
  const stacks = opts.environments.map((name) => {
    const configured = known[name];
    if (!configured) {
      throw new StackConfigError(`unknown environment "${name}"; known: ${Object.keys(known).join(', ')}`);
    }
    const environment = withStateBackend(configured, opts.stateBackend);
    const problems = checkEnvironment(environment);
    if (problems.length > 0) throw new StackConfigError(problems.join('; '));
    return new JobsStack(app, stackId(name), {
      environment,
      processorZipPath: opts.processorZipPath,
      alarmEmail: opts.alarmEmail,
      localStateDir: opts.localStateDir,
    });
  });
  return { app, stacks };
}

function withStateBackend(
  env: EnvironmentConfig,
  override: JobsAppOptions['stateBackend'],
): EnvironmentConfig {
  const base = env.stateBackend;
  if (!override || (!override.bucket && !base)) return env;
  const bucket = override.bucket ?? base!.bucket;
  return {
    ...env,
    stateBackend: {
      ...base,
      bucket,
      region: override.region ?? base?.region ?? env.region,
      dynamodbTable: override.dynamodbTable ?? base?.dynamodbTable,
    },
  };
}
