import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { BIN, cliEnv, ROOT } from '../cli/helpers/run-cli.js';

export interface CliProcess {
  child: ChildProcess;
  /** Resolves with the exit code once the process has exited. */
  exited: Promise<number | null>;
  /** Everything the process wrote to stderr so far. */
  stderr(): string;
  /**
   * Resolves once its stderr matches `re` (a log line as an event: `/SIGTERM received/` says a
   * shutdown began); rejects if the process exits first, or after `ms` (a deadline).
   */
  waitForStderr(re: RegExp, ms?: number): Promise<RegExpExecArray>;
  /** Sends `signal` and resolves with the exit code (SIGKILL after `timeoutMs`). */
  stop(signal?: NodeJS.Signals, timeoutMs?: number): Promise<number | null>;
}

export interface ServerProcess extends CliProcess {
  url: string;
}

/**
 * `node bin/run.js …args` as a long-running child process (a server or a worker), resolved once
 * its stderr matches `ready`. A process killed with SIGKILL is not an error; exiting before it is
 * ready is.
 */
export async function startCliProcess(
  args: string[],
  env: Record<string, string>,
  ready: RegExp,
  bin = BIN,
): Promise<CliProcess & { match: RegExpExecArray }> {
  const child = spawn(process.execPath, [bin, ...args], {
    cwd: ROOT,
    env: cliEnv({ JOBS_LOG_LEVEL: 'warn', ...env }),
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  const waitForStderr = (re: RegExp, ms = 90_000) =>
    new Promise<RegExpExecArray>((resolve, reject) => {
      const check = () => {
        const m = re.exec(stderr);
        if (m) finish(() => resolve(m));
      };
      const onClose = () => {
        check();
        finish(() => reject(new Error(`jobs ${args[0]} exited before its stderr matched ${re}:\n${stderr}`)));
      };
      const timer = setTimeout(
        () => finish(() => reject(new Error(`no ${re} on stderr within ${ms} ms:\n${stderr}`))),
        ms,
      );
      let settled = false;
      const finish = (settle: () => void) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        child.stderr!.off('data', onData);
        child.off('close', onClose);
        settle();
      };
      // After the helper's own listener has appended the chunk (listeners run in order).
      const onData = () => check();
      child.stderr!.on('data', onData);
      child.on('close', onClose); // 'close': after the last of its stderr was read
      check();
    });
  const match = await new Promise<RegExpExecArray>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`jobs ${args[0]} did not start:\n${stderr}`)), 90_000);
    child.stderr!.setEncoding('utf8').on('data', (d: string) => {
      stderr += d;
      const m = ready.exec(stderr);
      if (m) {
        clearTimeout(timer);
        resolve(m);
      }
    });
    child.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`jobs ${args[0]} exited (${code}) before it was ready:\n${stderr}`));
    });
  });
  return {
    child,
    exited,
    match,
    stderr: () => stderr,
    waitForStderr,
    async stop(signal = 'SIGTERM', timeoutMs = 20_000) {
      if (child.exitCode !== null || child.signalCode !== null) return child.exitCode;
      child.kill(signal);
      const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
      const code = await exited;
      clearTimeout(timer);
      return code;
    },
  };
}

/** The API token the first `jobs server` start saved in the CLI profile under `configHome`. */
export function profileToken(configHome: string): string {
  return JSON.parse(fs.readFileSync(path.join(configHome, 'jobs', 'config.json'), 'utf8')).token as string;
}

/**
 * `node bin/run.js server --port 0 …args`, resolved once it prints its listening line. Callers
 * pass JOBS_DATA_DIR and XDG_CONFIG_HOME in `env`.
 */
export async function startServerProcess(
  env: Record<string, string>,
  args: string[] = [],
  bin = BIN,
): Promise<ServerProcess> {
  const p = await startCliProcess(
    ['server', '--port', '0', ...args],
    env,
    /jobs server listening on (\S+)/,
    bin,
  );
  return { ...p, url: p.match[1] };
}

/** `node bin/run.js worker …args`, resolved once it is taking work. */
export function startWorkerProcess(
  env: Record<string, string>,
  args: string[] = [],
  bin = BIN,
): Promise<CliProcess> {
  return startCliProcess(['worker', ...args], env, /jobs worker running/, bin);
}
