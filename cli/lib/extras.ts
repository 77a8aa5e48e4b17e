import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { packageRoot } from '../../core/package-root.js';
import { CliError, UsageError } from './errors.js';

/**
 * The packages a client install leaves out. An installed `jobs` (npm install -g) carries only
 * what submit, list, get, logs and the other API commands need; the server's (PGlite, Prisma,
 * Express, the AWS SDK) and the stacks' (cdktf and the AWS provider, ~360 MB) are optional peer
 * dependencies, added on demand with `jobs extras install GROUP`. A dev checkout has them all
 * (they are dev dependencies too). The groups are declared once, in package.json's `jobs.extras`;
 * the versions are the peer dependencies'.
 */
export interface ExtrasGroup {
  name: string;
  description: string;
  /** The commands that need the group, as typed: `server`, `db migrate`. */
  commands: string[];
  /** npm specs, `name@version`. */
  specs: string[];
  /** Names not installed where this package can import them from. */
  missing: string[];
}

interface PackageJson {
  peerDependencies?: Record<string, string>;
  /** Where `installExtras` saved them (npm moves a saved name out of the peers). */
  dependencies?: Record<string, string>;
  jobs?: { extras?: Record<string, { description: string; commands: string[]; packages: string[] }> };
}

/** Every group, with what is missing of each. */
export function extrasGroups(root = packageRoot()): ExtrasGroup[] {
  const pjson = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8')) as PackageJson;
  const versions = { ...pjson.peerDependencies, ...pjson.dependencies };
  return Object.entries(pjson.jobs?.extras ?? {}).map(([name, g]) => ({
    name,
    description: g.description,
    commands: g.commands,
    specs: g.packages.map((p) => (versions[p] ? `${p}@${versions[p]}` : p)),
    missing: g.packages.filter((p) => !installed(root, p)),
  }));
}

export function extrasGroup(name: string, root = packageRoot()): ExtrasGroup {
  const groups = extrasGroups(root);
  const group = groups.find((g) => g.name === name);
  if (!group) {
    throw new UsageError(
      `unknown extras group "${name}": the groups are ${groups.map((g) => g.name).join(', ')}`,
    );
  }
  return group;
}

/**
 * Fails with one sentence naming the command that installs them when `group`'s packages are
 * missing. Called first thing by the commands that need them, so nothing is started half-way.
 */
export function requireExtras(name: string, command: string): void {
  const group = extrasGroup(name);
  if (group.missing.length === 0) return;
  throw new MissingExtrasError(
    `\`jobs ${command}\` needs the ${group.name} extras (${listNames(group.missing)}), which a client install leaves out: install them with \`jobsctl extras install ${group.name}\``,
  );
}

export class MissingExtrasError extends CliError {
  constructor(message: string) {
    super(message, 'missing_extras');
  }
}

function listNames(names: string[]): string {
  return names.length <= 3
    ? names.join(', ')
    : `${names.slice(0, 3).join(', ')} and ${names.length - 3} more`;
}

/**
 * Whether Node's resolution from this package finds `name`: in its own node_modules or in one of
 * its parents' (where npm puts a dev checkout's, a local install's and a global install's).
 */
function installed(root: string, name: string): boolean {
  let dir = root;
  for (;;) {
    if (path.basename(dir) !== 'node_modules') {
      if (fs.existsSync(path.join(dir, 'node_modules', name, 'package.json'))) return true;
    }
    const parent = path.dirname(dir);
    if (parent === dir) return false;
    dir = parent;
  }
}

/**
 * Installs groups into this package's own node_modules with npm, saved as its dependencies
 * (exact versions): npm skips a name the package declares as an optional peer unless it is saved
 * as a dependency, and a saved one stays when another group is installed later. Scripts are not
 * run: none of the extras needs one.
 */
export async function installExtras(
  names: string[],
  opts: { npm?: string; onOutput?: (chunk: Buffer) => void; root?: string } = {},
): Promise<ExtrasGroup[]> {
  const root = opts.root ?? packageRoot();
  const specs = [...new Set(names.flatMap((n) => extrasGroup(n, root).specs))];
  const args = [
    'install',
    '--prefix',
    root,
    '--save-prod',
    '--save-exact',
    '--no-package-lock',
    '--omit=dev',
    '--ignore-scripts',
    '--prefer-offline',
    '--no-audit',
    '--no-fund',
    ...specs,
  ];
  const npm = opts.npm ?? process.env.JOBS_NPM ?? 'npm';
  const code = await new Promise<number>((resolve, reject) => {
    const child = spawn(npm, args, {
      stdio: ['ignore', 'pipe', 'pipe'],
      shell: process.platform === 'win32',
    });
    child.stdout.on('data', (c: Buffer) => opts.onOutput?.(c));
    child.stderr.on('data', (c: Buffer) => opts.onOutput?.(c));
    child.on('error', (err) =>
      reject(new CliError(`cannot run ${npm} to install the extras: ${err.message}`, 'npm_failed')),
    );
    child.on('close', (c) => resolve(c ?? 1));
  });
  if (code !== 0) throw new CliError(`npm install of the extras failed (exit ${code})`, 'npm_failed');
  const after = names.map((n) => extrasGroup(n, root));
  const still = after.flatMap((g) => g.missing);
  if (still.length > 0) {
    throw new CliError(
      `npm finished but ${listNames(still)} still cannot be found from ${root}`,
      'npm_failed',
    );
  }
  return after;
}
