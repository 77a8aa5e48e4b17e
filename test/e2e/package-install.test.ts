import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ROOT, runCli, tempConfigHome } from '../cli/helpers/run-cli.js';
import { startServerProcess, type ServerProcess } from '../helpers/server-process.js';

/**
 * The package as a user installs it: `npm pack` (which builds: prepack), then
 * `npm install -g ./jobs-0.1.0.tgz` into a temporary prefix, as on a clean machine. The installed
 * client must fit in 80 MB (the server's and the stacks' packages are extras it leaves out) and
 * work against a real server (started from this checkout).
 *
 * The pack runs in a copy of the sources (node_modules linked), so this checkout's dist/ is never
 * rebuilt under the other suites' feet. Packing and installing are slow on a loaded machine: only
 * they get long deadlines.
 */
jest.setTimeout(180_000);

const MB = 1024 * 1024;
/** Top-level entries that are not sources: never copied. */
const NOT_SOURCES = new Set([
  'node_modules',
  'dist',
  '.git',
  '.jobs',
  'coverage',
  'dist-lambda',
  'cdktf.out',
  'bench',
  'test-results',
  'test-output',
  'oclif.manifest.json',
]);

const work = fs.mkdtempSync(path.join(os.tmpdir(), 'jobs-package-'));
const src = path.join(work, 'src');
const prefix = path.join(work, 'prefix');
const jobsctl = path.join(prefix, 'bin', 'jobsctl');
const home = tempConfigHome();
const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'jobs-package-data-'));
let server: ServerProcess | undefined;
let installOutput = '';

/** Runs a command to completion; rejects with its output when it fails. */
function run(cmd: string, args: string[], cwd: string, timeoutMs: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, {
      cwd,
      env: { ...process.env, npm_config_update_notifier: 'false' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (out += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      if (code === 0) resolve(out);
      else reject(new Error(`${cmd} ${args.join(' ')} exited ${code}:\n${out.slice(-4000)}`));
    });
  });
}

/** Bytes of every file under `dir` (symlinks not followed). */
function sizeOf(dir: string): number {
  let total = 0;
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) total += sizeOf(p);
    else if (e.isFile()) total += fs.statSync(p).size;
  }
  return total;
}

/**
 * The installed CLI, with the profile the server saved, as a user runs it: without jest's
 * NODE_ENV=test (with it, oclif looks for TypeScript sources to run and warns that it found none).
 */
const installed = (args: string[], input?: string) =>
  runCli(args, {
    bin: jobsctl,
    env: { XDG_CONFIG_HOME: home, NODE_ENV: undefined },
    timeoutMs: 90_000,
    input,
  });

beforeAll(async () => {
  fs.cpSync(ROOT, src, {
    recursive: true,
    filter: (from) => {
      const rel = path.relative(ROOT, from);
      return !NOT_SOURCES.has(rel.split(path.sep)[0]!) && rel !== path.join('core', 'db', 'generated');
    },
  });
  fs.symlinkSync(path.join(ROOT, 'node_modules'), path.join(src, 'node_modules'));
  await run('npm', ['pack', '--pack-destination', work], src, 900_000);
  const tarball = fs.readdirSync(work).find((f) => /^jobs-.*\.tgz$/.test(f));
  if (!tarball) throw new Error(`npm pack made no tarball in ${work}`);
  installOutput = await run(
    'npm',
    ['install', '-g', '--prefix', prefix, `./${tarball}`, '--prefer-offline', '--no-audit', '--no-fund'],
    work,
    900_000,
  );
  server = await startServerProcess({ JOBS_DATA_DIR: dataDir, XDG_CONFIG_HOME: home });
}, 1_800_000);

afterAll(async () => {
  if (server) expect(await server.stop('SIGTERM')).toBe(0);
  for (const d of [work, home, dataDir]) fs.rmSync(d, { recursive: true, force: true });
}, 60_000);

describe('the packed CLI, installed with npm install -g', () => {
  it('installs with no warning about install scripts, in under 80 MB', () => {
    expect(installOutput).not.toMatch(/install-scripts|ERR!/);
    const bytes = sizeOf(prefix);
    expect(bytes).toBeLessThan(80 * MB);
    // The heavy extras stay out of a client install.
    const modules = path.join(prefix, 'lib', 'node_modules', 'jobs', 'node_modules');
    for (const heavy of ['@cdktf', 'cdktf', '@electric-sql', '@prisma', 'express', '@aws-sdk']) {
      expect(fs.existsSync(path.join(modules, heavy))).toBe(false);
    }
  });

  it('ships what it runs from: the manifest, migrations, dashboard and licence, no sources', () => {
    const pkg = path.join(prefix, 'lib', 'node_modules', 'jobs');
    for (const f of ['oclif.manifest.json', 'LICENSE', 'web/index.html', 'dist/cli/commands/submit.js']) {
      expect(fs.existsSync(path.join(pkg, f))).toBe(true);
    }
    expect(fs.readdirSync(path.join(pkg, 'prisma', 'migrations')).length).toBeGreaterThan(1);
    for (const f of ['cli', 'tsconfig.json', 'scripts', 'test'])
      expect(fs.existsSync(path.join(pkg, f))).toBe(false);
    const pjson = JSON.parse(fs.readFileSync(path.join(pkg, 'package.json'), 'utf8'));
    expect(pjson.scripts.prepare).toBeUndefined();
    expect(pjson.devDependencies).toBeUndefined();
  });

  it('answers --version under both names', async () => {
    for (const bin of ['jobsctl', 'jobs']) {
      const r = await runCli(['--version'], {
        bin: path.join(prefix, 'bin', bin),
        env: { NODE_ENV: undefined },
      });
      expect(r.code).toBe(0);
      expect(r.stdout).toMatch(/^jobs\/0\.1\.0 /);
    }
  });

  it('submits a file with --wait, lists the job and prints its logs (also --follow) from a real server', async () => {
    const orders = path.join(ROOT, 'examples', 'orders.csv');
    const sub = await installed(['submit', orders, '--type', 'csv-import', '--wait']);
    expect(sub.stderr).not.toContain('\x1b'); // not a terminal: no codes
    expect(sub.code).toBe(0);
    const [id, status] = sub.stdout.trim().split('\n');
    expect(status).toBe('COMPLETED');
    expect(sub.stderr).toMatch(/rows/);

    const list = await installed(['list', '--json']);
    expect(list.code).toBe(0);
    expect(JSON.parse(list.stdout).items.map((j: { id: string }) => j.id)).toContain(id);

    const logs = await installed(['logs', id!]);
    expect(logs.code).toBe(0);
    expect(logs.stdout).toMatch(/^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3} [+-]\d\d:\d\d INFO /m);
    const follow = await installed(['logs', id!.slice(0, 8), '--follow', '--json']);
    expect(follow.code).toBe(0);
    expect(follow.stdout.trim().split('\n').length).toBeGreaterThan(0);
  });

  it('says in one sentence how to add the server and infra extras, exit 1', async () => {
    const srv = await installed(['server', '--port', '0']);
    expect(srv.code).toBe(1);
    expect(srv.stderr.trim().split('\n')).toEqual([
      expect.stringMatching(
        /^`jobs server` needs the server extras .*: install them with `jobsctl extras install server`$/,
      ),
    ]);
    const synth = await installed(['synth', '--json']);
    expect(synth.code).toBe(1);
    expect(JSON.parse(synth.stdout).error).toMatchObject({
      code: 'missing_extras',
      message: expect.stringContaining('jobsctl extras install infra'),
    });
    const list = await installed(['extras', 'list', '--json']);
    expect(JSON.parse(list.stdout)).toEqual([
      expect.objectContaining({ name: 'server', installed: false }),
      expect.objectContaining({ name: 'infra', installed: false }),
    ]);
  });

  // Last: it changes the install. The registry is reached through npm's cache (warm after
  // `npm ci`), so the deadline is generous for the install only.
  it('adds the server extras with one command, then runs the server from the install', async () => {
    const add = await runCli(['extras', 'install', 'server'], {
      bin: jobsctl,
      env: { NODE_ENV: undefined },
      timeoutMs: 900_000,
    });
    expect(add.code).toBe(0);
    expect(add.stderr).toBe('Installed: server.\n');

    const ownHome = tempConfigHome();
    const ownData = fs.mkdtempSync(path.join(os.tmpdir(), 'jobs-package-own-'));
    const own = await startServerProcess(
      { JOBS_DATA_DIR: ownData, XDG_CONFIG_HOME: ownHome, NODE_ENV: 'production' },
      [],
      jobsctl,
    );
    try {
      const r = await runCli(['submit', '--type', 'noop', '--param', 'logLines=2', '--wait', '--json'], {
        bin: jobsctl,
        env: { XDG_CONFIG_HOME: ownHome, NODE_ENV: undefined },
        timeoutMs: 90_000,
      });
      expect(r.code).toBe(0);
      expect(JSON.parse(r.stdout)).toMatchObject({ status: 'COMPLETED', result: { logLines: 2 } });
    } finally {
      expect(await own.stop('SIGTERM')).toBe(0);
      for (const d of [ownHome, ownData]) fs.rmSync(d, { recursive: true, force: true });
    }
  }, 1_200_000);
});
