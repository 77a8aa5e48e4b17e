import fs from 'node:fs';
import path from 'node:path';

/** The second name of the CLI: `jobs` is a builtin of bash, zsh and dash, which a typed `jobs` reaches first. */
export const CLI_NAME = 'jobsctl';

export const SHELLS = ['bash', 'zsh'] as const;
export type Shell = (typeof SHELLS)[number];

/** Shell-quotes `s` for bash and zsh (single quotes, with any inner one closed and escaped). */
function quote(s: string): string {
  return `'${s.replaceAll("'", `'\\''`)}'`;
}

/**
 * How the function calls the CLI: `jobsctl` by name when the one on PATH is this very script (an
 * `npm install -g` or `npm link`), else this node and this script by absolute path (a clone, run
 * as `node bin/run.js`), so the function works in both without more set-up.
 */
export function cliInvocation(script: string, pathEnv = process.env.PATH ?? ''): string {
  const self = fs.realpathSync(script);
  for (const dir of pathEnv.split(path.delimiter).filter(Boolean)) {
    const candidate = path.join(dir, CLI_NAME);
    try {
      if (fs.realpathSync(candidate) === self) return `command ${CLI_NAME}`;
    } catch {
      // not in this directory
    }
  }
  return `${quote(process.execPath)} ${quote(self)}`;
}

/**
 * The `jobs` function for an interactive bash or zsh: the CLI's own commands (and --help,
 * --version) go to the CLI; everything else — `jobs`, `jobs -l`, `jobs %1` — to the shell's
 * builtin, which keeps working as before.
 */
export function shellInit(shell: Shell, commands: readonly string[], invocation: string): string {
  const names = [...new Set(commands)].sort();
  return [
    `# The jobs CLI as \`jobs\` in ${shell}: its commands go to the CLI, anything else to the`,
    `# shell's own \`jobs\` builtin. Add to ~/.${shell}rc:  eval "$(${CLI_NAME} shell-init ${shell})"`,
    'jobs() {',
    '  case "${1-}" in',
    `    ${[...names, '--help', '-h', '--version'].join('|')})`,
    `      ${invocation} "$@" ;;`,
    '    *)',
    '      builtin jobs "$@" ;;',
    '  esac',
    '}',
    '',
  ].join('\n');
}
