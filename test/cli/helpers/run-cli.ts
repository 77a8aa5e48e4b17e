import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
export const BIN = path.join(ROOT, 'bin', 'run.js');

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

export interface RunOptions {
  env?: Record<string, string | undefined>;
  cwd?: string;
  /** Called with the child right after spawn (e.g. to sample its memory). */
  onSpawn?: (child: ChildProcess) => void;
  timeoutMs?: number;
  /** The entry script (default bin/run.js; the kill tests use test/fixtures/counting-jobs.mjs). */
  bin?: string;
  /** Written to the child's stdin, which is then closed (default: no stdin). */
  input?: string;
}

/** A temporary XDG_CONFIG_HOME, so tests never read or write the real profile. */
export function tempConfigHome(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), 'jobs-cli-config-'));
}

/** The environment a spawned CLI gets: no inherited JOBS_* settings, no colours. */
export function cliEnv(extra: Record<string, string | undefined> = {}): Record<string, string> {
  const env: Record<string, string | undefined> = { ...process.env };
  for (const k of Object.keys(env)) if (k.startsWith('JOBS_') || k === 'DATABASE_URL') delete env[k];
  // Tests poll their servers far faster than a person does: the request rate limit is off unless
  // a test sets it (test/server/limits.test.ts tests it).
  Object.assign(env, { NO_COLOR: '1', FORCE_COLOR: '0', JOBS_RATE_LIMIT_PER_MINUTE: '0' }, extra);
  return Object.fromEntries(Object.entries(env).filter(([, v]) => v !== undefined)) as Record<string, string>;
}

/** Runs `node bin/run.js …args` to completion. */
export function runCli(args: string[], opts: RunOptions = {}): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [opts.bin ?? BIN, ...args], {
      cwd: opts.cwd ?? ROOT,
      env: cliEnv(opts.env),
      stdio: [opts.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
    });
    if (opts.input !== undefined) child.stdin!.end(opts.input);
    let stdout = '';
    let stderr = '';
    child.stdout!.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`jobs ${args.join(' ')} timed out\nstdout: ${stdout}\nstderr: ${stderr}`));
    }, opts.timeoutMs ?? 60_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
    opts.onSpawn?.(child);
  });
}

/**
 * Samples a child's resident memory (Linux /proc) every 20 ms: pass `onSpawn` to runCli (or a
 * `jobs(args, onSpawn)` wrapper), then read `stop()` for the peak in bytes.
 */
export function rssSampler(): { onSpawn: (child: ChildProcess) => void; stop: () => number } {
  let maxRss = 0;
  let timer: NodeJS.Timeout | undefined;
  return {
    onSpawn(child) {
      timer = setInterval(() => {
        try {
          const status = fs.readFileSync(`/proc/${child.pid}/status`, 'utf8');
          maxRss = Math.max(maxRss, Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0) * 1024);
        } catch {
          // the process has exited
        }
      }, 20);
    },
    stop() {
      clearInterval(timer);
      return maxRss;
    },
  };
}
