import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
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
 *
 * A new data directory's embedded database starts as a copy of one made by `jobs server`'s own
 * code once per run (`embeddedDatabaseTemplate`): PGlite's initdb is most of a first start (8 s
 * of 23 on a loaded 2-core machine) and says nothing about the test. `freshDatabase` keeps the real
 * first start, for the tests of it (a new user's quickstart, the data dir's modes, the installed
 * package).
 */
export async function startServerProcess(
  env: Record<string, string>,
  args: string[] = [],
  bin = BIN,
  opts: { freshDatabase?: boolean } = {},
): Promise<ServerProcess> {
  const dataDir = env.JOBS_DATA_DIR;
  if (!opts.freshDatabase && bin === BIN && dataDir && !env.DATABASE_URL) {
    const db = path.join(dataDir, 'db');
    if (!fs.existsSync(path.join(db, 'PG_VERSION'))) {
      const template = await embeddedDatabaseTemplate();
      fs.mkdirSync(dataDir, { recursive: true, mode: 0o700 });
      fs.cpSync(template, db, { recursive: true });
    }
  }
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

/**
 * A new embedded database's directory, as `jobs server` creates it (its own openDatabase, in a
 * child process: initdb and a first open, no migrations), made once per PGlite version and
 * database module and kept in the OS temp directory; made under a temporary name and renamed into
 * place, so workers making it at once cannot copy half of one.
 */
let template: Promise<string> | undefined;
function embeddedDatabaseTemplate(): Promise<string> {
  return (template ??= (async () => {
    const entry = createRequire(import.meta.url).resolve('@electric-sql/pglite');
    const pgliteDir = entry.slice(0, entry.lastIndexOf(`${path.sep}dist${path.sep}`));
    const databaseModule = path.join(ROOT, 'dist', 'core', 'db', 'database.js');
    const key = createHash('sha256')
      .update(fs.readFileSync(path.join(pgliteDir, 'package.json')))
      .update(fs.readFileSync(databaseModule))
      .digest('hex')
      .slice(0, 16);
    const dir = path.join(os.tmpdir(), `jobs-test-embedded-db-${key}`);
    if (fs.existsSync(path.join(dir, 'PG_VERSION'))) return dir;
    const tmp = `${dir}.${process.pid}.${randomBytes(4).toString('hex')}`;
    const script = `import(${JSON.stringify(databaseModule)})
      .then((m) => m.openDatabase({ dir: process.argv[1] })).then((db) => db.close())`;
    await promisify(execFile)(process.execPath, ['--input-type=module', '-e', script, tmp]);
    try {
      fs.renameSync(tmp, dir);
    } catch (err) {
      // Another worker renamed its own first: use that one.
      fs.rmSync(tmp, { recursive: true, force: true });
      if (!fs.existsSync(path.join(dir, 'PG_VERSION'))) throw err;
    }
    return dir;
  })());
}
