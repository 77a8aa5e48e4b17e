import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import AdmZip from 'adm-zip';
import { packageRoot } from '../../core/package-root.js';

/**
 * Builds the Lambda zip (`npm run build:lambda`, into `outDir` or a new temporary directory: never
 * the shared dist-lambda/, which suites running at once would clobber) and unpacks it into a new
 * empty directory; returns it. `env` is added to the build's environment (JOBS_HANDLERS: a
 * deployment's own job types).
 */
export function buildAndUnpackLambda(opts: { outDir?: string; env?: Record<string, string> } = {}): string {
  const outDir = opts.outDir ?? fs.mkdtempSync(path.join(os.tmpdir(), 'jobs-lambda-build-'));
  try {
    const built = spawnSync(
      process.execPath,
      [path.join(packageRoot(), 'scripts', 'build-lambda.mjs'), '--out-dir', outDir],
      { cwd: packageRoot(), env: { ...process.env, ...opts.env }, encoding: 'utf8' },
    );
    if (built.status !== 0) throw new Error(`build-lambda failed: ${built.stderr}`);
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'jobs-lambda-'));
    new AdmZip(path.join(outDir, 'processor.zip')).extractAllTo(dir);
    return dir;
  } finally {
    if (!opts.outDir) fs.rmSync(outDir, { recursive: true, force: true });
  }
}

/**
 * What an unpacked zip holds besides its own code (index.mjs, the chunks it imports on demand and
 * Prisma's query compiler, scripts/build-lambda.mjs): must be nothing.
 */
export function foreignBundleFiles(dir: string): string[] {
  return fs
    .readdirSync(dir)
    .filter((f) => f !== 'index.mjs' && f !== 'query_compiler_bg.wasm' && !/^chunk-[A-Z0-9]+\.mjs$/.test(f));
}

/**
 * Runs `handler(event, context)` from the unpacked bundle in a fresh, plain `node` (no
 * node_modules, only PATH and `env` in its environment), as Lambda would.
 */
export function invokeLambda(
  dir: string,
  event: unknown,
  env: Record<string, string>,
): Promise<{ code: number | null; out: string; err: string }> {
  const script = `
    const { handler } = await import('./index.mjs');
    const context = { getRemainingTimeInMillis: () => 60_000 };
    const res = await handler(JSON.parse(process.env.EVENT), context);
    console.log(JSON.stringify(res));
    process.exit(0);`;
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--input-type=module', '-e', script], {
      cwd: dir,
      env: { PATH: process.env.PATH ?? '', EVENT: JSON.stringify(event), JOBS_LOG_LEVEL: 'warn', ...env },
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (err += d));
    child.on('close', (code) => resolve({ code, out, err }));
  });
}
