import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { packageRoot } from '../../core/package-root.js';
import { shellInit } from '../../cli/lib/shell-init.js';

/**
 * `jobs` is a builtin of bash and zsh: `jobsctl shell-init SHELL` prints a `jobs` function that
 * sends the CLI's commands to the CLI and the rest to the builtin. Run in the real shells; a shell
 * that is not installed is skipped, and says so (.ci/run installs zsh).
 */
const RUN_JS = path.join(packageRoot(), 'bin', 'run.js');
const installed = (shell: string) => spawnSync(shell, ['-c', 'true']).status === 0;

function inShell(shell: string, script: string, env: NodeJS.ProcessEnv = process.env) {
  const r = spawnSync(shell, ['-c', script], { encoding: 'utf8', env, timeout: 60_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe.each(['bash', 'zsh'])('the jobs function in %s', (shell) => {
  const run = installed(shell) ? it : it.skip;
  if (!installed(shell)) console.warn(`shell-init: ${shell} is not installed; its cases are skipped`);
  let bin: string;

  beforeAll(() => {
    // A directory holding `jobsctl`, as `npm install -g` would put it on PATH.
    bin = fs.mkdtempSync(path.join(os.tmpdir(), 'jobsctl-bin-'));
    fs.symlinkSync(RUN_JS, path.join(bin, 'jobsctl'));
  });
  afterAll(() => fs.rmSync(bin, { recursive: true, force: true }));

  run("sends the CLI's commands to the CLI, and jobs, jobs -l, jobs %1 to the builtin", () => {
    const r = inShell(
      shell,
      `eval "$(${JSON.stringify(process.execPath)} ${JSON.stringify(RUN_JS)} shell-init ${shell})"
       jobs --version
       sleep 60 &
       echo "-- jobs"; jobs
       echo "-- jobs -l"; jobs -l
       echo "-- jobs %1"; jobs %1
       kill %1
       jobs types --help | head -n 1`,
    );
    expect(r.stderr).toBe('');
    const [version, ...rest] = r.stdout.split('\n');
    expect(version).toMatch(/^jobs\/\d+\.\d+\.\d+ /);
    const out = rest.join('\n');
    const pid = String.raw`\d+`;
    expect(out).toMatch(new RegExp(String.raw`-- jobs\n\[1\]\s*\+\s+(Running|running)\s+sleep 60`));
    expect(out).toMatch(
      new RegExp(String.raw`-- jobs -l\n\[1\]\s*\+\s+${pid}\s+(Running|running)\s+sleep 60`),
    );
    expect(out).toMatch(new RegExp(String.raw`-- jobs %1\n\[1\]\s*\+\s+(Running|running)\s+sleep 60`));
    expect(out).toMatch(/List the registered job types/);
  });

  run('calls jobsctl by name when the one on PATH is this CLI (a global install)', () => {
    const env = { ...process.env, PATH: `${bin}${path.delimiter}${process.env.PATH}` };
    const printed = inShell(shell, `jobsctl shell-init ${shell}`, env);
    expect(printed.stdout).toContain('      command jobsctl "$@" ;;');
    const r = inShell(shell, `eval "$(jobsctl shell-init ${shell})"; jobs --version; jobs; echo done`, env);
    expect([r.stderr, r.stdout]).toEqual(['', expect.stringMatching(/^jobs\/\d+\.\d+\.\d+ .*\ndone\n$/)]);
  });
});

describe('jobsctl shell-init', () => {
  it('lists each command once, sorted, with --help, -h and --version', () => {
    const text = shellInit('bash', ['submit', 'dlq', 'dlq', 'list'], 'command jobsctl');
    expect(text).toContain('    dlq|list|submit|--help|-h|--version)\n      command jobsctl "$@" ;;');
    expect(text).toContain('      builtin jobs "$@" ;;');
  });

  it('takes the shell from $SHELL, and refuses one it does not know (exit 2)', () => {
    const node = (args: string[], env: NodeJS.ProcessEnv) =>
      spawnSync(process.execPath, [RUN_JS, ...args], { encoding: 'utf8', env: { ...process.env, ...env } });
    expect(node(['shell-init'], { SHELL: '/usr/bin/zsh' }).stdout).toMatch(
      /^# The jobs CLI as `jobs` in zsh/,
    );
    const fish = node(['shell-init'], { SHELL: '/usr/bin/fish' });
    expect([fish.status, fish.stderr]).toEqual([2, expect.stringContaining('say which shell')]);
    expect(node(['shell-init', 'fish'], {}).status).toBe(2);
  });
});
