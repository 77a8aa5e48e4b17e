import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { stripVTControlCharacters } from 'node:util';
import { BIN, cliEnv, runCli, tempConfigHome } from '../cli/helpers/run-cli.js';
import { FileLatch, LATCH_HANDLER } from '../helpers/latch.js';
import { startServerProcess, type ServerProcess } from '../helpers/server-process.js';

/**
 * `jobs submit --follow` on a terminal keeps the job's progress as a bar under its log lines (from
 * the live stream's job events); piped or with --json it prints the lines alone. The terminal is a
 * real pseudo-terminal: util-linux `script` (the test is skipped without it).
 */
jest.setTimeout(180_000);

const hasScript = spawnSync('script', ['--version'], { stdio: 'ignore' }).status === 0;
const UUID = /[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/;
/** The latch job's progress (0 of 1) as the bar draws it. */
const BAR = /\[░{20}\] 0\/1 \(0%\)/;
const ERASE = '\r\x1b[2K';

let server: ServerProcess | undefined;
const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'jobs-e2e-progress-'));
const home = tempConfigHome();
const latch = new FileLatch(path.join(dataDir, 'latch'));

beforeAll(async () => {
  if (!hasScript) return;
  server = await startServerProcess({
    JOBS_DATA_DIR: dataDir,
    XDG_CONFIG_HOME: home,
    JOBS_HANDLERS: LATCH_HANDLER,
  });
}, 120_000);

afterAll(async () => {
  if (server) expect(await server.stop('SIGTERM')).toBe(0);
  for (const d of [dataDir, home]) fs.rmSync(d, { recursive: true, force: true });
}, 60_000);

const quote = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;

/**
 * Runs the CLI in a pseudo-terminal of 100 columns; `whenOutput` is called on each chunk of the
 * terminal's output (stdout and stderr as a person sees them) until the command exits.
 */
function inTerminal(
  args: string[],
  whenOutput: (text: string) => void,
): Promise<{ code: number | null; output: string }> {
  const command = `stty cols 100 rows 30; exec ${[process.execPath, BIN, ...args].map(quote).join(' ')}`;
  const child = spawn('script', ['-qfec', command, '/dev/null'], {
    env: cliEnv({ XDG_CONFIG_HOME: home }),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => {
    output += d;
    whenOutput(output);
  });
  child.stderr.setEncoding('utf8').on('data', (d: string) => (output += d));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`jobs ${args.join(' ')} in a terminal timed out; output:\n${output}`));
    }, 120_000);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, output });
    });
  });
}

(hasScript ? describe : describe.skip)('submit --follow progress', () => {
  it('draws the bar under the log lines on a terminal, and clears it when the job ends', async () => {
    let released = false;
    const args = ['submit', '--type', 'latch', '--param', `dir=${latch.dir}`, '--param', 'logLines=2'];
    const r = await inTerminal([...args, '--follow'], (text) => {
      // The bar has been drawn with the job waiting on its latch: let the job end.
      const id = UUID.exec(text)?.[0];
      if (!released && id && BAR.test(text)) {
        released = true;
        latch.release(id);
      }
    });
    expect(r.code).toBe(0);
    expect(released).toBe(true);
    // Erased before each redraw and at the end; the last thing drawn is not the bar.
    expect(r.output).toContain(ERASE);
    const lastBar = r.output.lastIndexOf('░');
    expect(r.output.indexOf(ERASE, lastBar)).toBeGreaterThan(lastBar);
    // What stays on the screen: the id, the log lines, the summary and the status, no bar.
    const screen = stripVTControlCharacters(r.output.split(ERASE).join('\n'))
      .split(/\r?\n/)
      .map((l) => l.trim())
      .filter(Boolean);
    expect(screen).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/ INFO line 1 of 2$/),
        expect.stringMatching(/ INFO line 2 of 2$/),
      ]),
    );
    expect(screen.at(-1)).toBe('COMPLETED');
  });

  it('prints no bar and no terminal codes when its output is not a terminal', async () => {
    const args = ['submit', '--type', 'latch', '--param', `dir=${latch.dir}`, '--param', 'logLines=2'];
    const run = runCli([...args, '--follow'], { env: { XDG_CONFIG_HOME: home }, timeoutMs: 120_000 });
    // The job is running and waiting: its progress (0 of 1) was reported before its latch file.
    const dirBefore = new Set(fs.readdirSync(latch.dir));
    let id: string | undefined;
    await new Promise<void>((resolve) => {
      const check = () => {
        const started = fs.readdirSync(latch.dir).find((f) => f.endsWith('.started') && !dirBefore.has(f));
        if (!started || id) return;
        watcher.close();
        id = started.replace(/\.started$/, '');
        resolve();
      };
      const watcher = fs.watch(latch.dir, check);
      check();
    });
    latch.release(id!);
    const r = await run;
    expect(r.code).toBe(0);
    for (const text of [r.stdout, r.stderr]) {
      expect(text).not.toMatch(/[░█]/);
      expect(text).not.toContain('\x1b');
    }
    const out = r.stdout.trim().split('\n');
    expect(out[0]).toBe(id);
    const lines = out.slice(1, -1);
    expect(lines).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/ INFO line 1 of 2$/),
        expect.stringMatching(/ INFO line 2 of 2$/),
      ]),
    );
    for (const l of lines) expect(l).toMatch(/^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3} [+-]\d\d:\d\d [A-Z]+ /);
    expect(out.at(-1)).toBe('COMPLETED');
  });
});
