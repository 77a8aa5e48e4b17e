import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { packageRoot } from '../../core/package-root.js';
import { profileToken, startServerProcess, type ServerProcess } from '../helpers/server-process.js';

/**
 * examples/ci: the GitHub Actions workflow's and the GitLab CI job's shell steps, run as written
 * (in a workspace laid out like the repository they live in) against a real embedded server, with
 * `jobsctl` on PATH as `npm install -g` would put it. Their install step is the only one not run.
 */
const EXAMPLES = path.join(packageRoot(), 'examples');

/** The shell lines of a CI file that call examples/ci/ (GitHub's `run:` values, GitLab's script items). */
function ciSteps(file: string): string[] {
  return fs
    .readFileSync(path.join(EXAMPLES, 'ci', file), 'utf8')
    .split('\n')
    .map((l) => /^\s*(?:-\s+)?(?:run:\s+)?(examples\/ci\/.*)$/.exec(l)?.[1])
    .filter((l): l is string => l !== undefined);
}

describe.each(['github-actions.yml', 'gitlab-ci.yml'])('the CI example %s', (file) => {
  let server: ServerProcess;
  let home: string;
  let workspace: string;
  let env: NodeJS.ProcessEnv;

  beforeAll(async () => {
    home = fs.mkdtempSync(path.join(os.tmpdir(), 'jobs-ci-example-'));
    server = await startServerProcess({
      JOBS_DATA_DIR: path.join(home, 'data'),
      XDG_CONFIG_HOME: path.join(home, 'config'),
    });
    const bin = path.join(home, 'bin');
    fs.mkdirSync(bin);
    fs.symlinkSync(path.join(packageRoot(), 'bin', 'run.js'), path.join(bin, 'jobsctl'));
    workspace = path.join(home, 'repo');
    fs.mkdirSync(path.join(workspace, 'data'), { recursive: true });
    fs.cpSync(path.join(EXAMPLES, 'ci'), path.join(workspace, 'examples', 'ci'), { recursive: true });
    const config = path.join(home, 'config');
    env = {
      ...process.env,
      PATH: `${bin}${path.delimiter}${process.env.PATH}`,
      JOBS_API_URL: server.url,
      JOBS_TOKEN: profileToken(config),
      XDG_CONFIG_HOME: path.join(home, 'empty-config'), // the pipeline has only its env
    };
  });
  afterAll(async () => {
    server?.child.kill('SIGTERM');
    await server?.exited;
    fs.rmSync(home, { recursive: true, force: true });
  });

  /** Runs the example's steps in the workspace, with `orders` as data/orders.csv. */
  function pipeline(orders: string) {
    fs.copyFileSync(path.join(EXAMPLES, orders), path.join(workspace, 'data', 'orders.csv'));
    fs.rmSync(path.join(workspace, 'jobs-artifacts'), { recursive: true, force: true });
    const steps = ciSteps(file);
    expect(steps).toEqual([
      expect.stringMatching(/^examples\/ci\/submit-and-wait\.sh data\/orders\.csv csv-import /),
    ]);
    const r = spawnSync('bash', ['-e', '-c', steps.join('\n')], {
      cwd: workspace,
      env,
      encoding: 'utf8',
      timeout: 120_000,
    });
    const artifact = (name: string) => fs.readFileSync(path.join(workspace, 'jobs-artifacts', name), 'utf8');
    return { code: r.status, stdout: r.stdout, stderr: r.stderr, artifact };
  }

  it('passes on a good file and keeps the job and its logs', () => {
    const r = pipeline('orders.csv');
    expect([r.code, r.stderr]).toEqual([0, '']);
    expect(r.stdout).toMatch(/^job [0-9a-f-]{36}: COMPLETED\n$/);
    expect(JSON.parse(r.artifact('job.json'))).toMatchObject({ status: 'COMPLETED', result: { invalid: 0 } });
    const logs = JSON.parse(r.artifact('logs.json')) as { message: string }[];
    expect(logs.at(-1)?.message).toMatch(/^completed in /);
  });

  it('fails the pipeline (exit 1) on a failed job, and still keeps its logs naming the bad line', () => {
    const r = pipeline('orders-bad-rows.csv');
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/^job [0-9a-f-]{36}: FAILED: \d+ bad rows? exceeds? maxErrors=0\n$/);
    expect(JSON.parse(r.artifact('job.json')).status).toBe('FAILED');
    expect(r.artifact('logs.json')).toMatch(/line \d+: /);
  });
});
