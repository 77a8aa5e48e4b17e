import { stripVTControlCharacters } from 'node:util';
import { Command, Flags } from '@oclif/core';
import { ApiClient, resolveTarget } from './api-client.js';
import { CliError } from './errors.js';
import { progressLine, type ProgressLine } from './progress-line.js';
import { startSpinner, type Spinner } from './spinner.js';

/** `--utc` of the commands that print times (get, list, logs): see formatTime. */
export const utcFlag = Flags.boolean({
  description: 'print times in UTC (+00:00) instead of local time with its offset',
});

interface ReportedError {
  exitCode: number;
  code: string;
  message: string;
}

/**
 * Base of every `jobs` command: the global `--json` flag, output helpers that keep stdout for
 * results (machine output only with `--json`), and one error path that maps failures to the
 * contract's exit codes (1 API/network/job failure, 2 usage) and prints them as one sentence
 * (stderr), or as `{"error":{"code","message"}}` on stdout with `--json`.
 */
export abstract class BaseCommand extends Command {
  static override baseFlags = {
    json: Flags.boolean({ description: 'Print machine-readable JSON on stdout.', helpGroup: 'GLOBAL' }),
  };

  private spinners: Spinner[] = [];
  private client?: ApiClient;

  /** Known from argv before parsing, so even a parse error can be reported as JSON. */
  protected get json(): boolean {
    const end = this.argv.indexOf('--');
    const args = end === -1 ? this.argv : this.argv.slice(0, end);
    return args.includes('--json');
  }

  /** The API client, configured from JOBS_API_URL / JOBS_TOKEN or the profile. */
  protected get api(): ApiClient {
    this.client ??= new ApiClient(resolveTarget(process.env));
    return this.client;
  }

  /** A result line on stdout (human mode). */
  protected out(text: string): void {
    process.stdout.write(text.endsWith('\n') ? text : `${text}\n`);
  }

  /** A note for humans on stderr; silent with `--json`. */
  protected note(text: string): void {
    if (!this.json) process.stderr.write(`${text}\n`);
  }

  /** The machine output of the command. */
  protected printJson(value: unknown): void {
    process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
  }

  /** One NDJSON record (streams: `logs --follow --json`). */
  protected printJsonLine(value: unknown): void {
    process.stdout.write(`${JSON.stringify(value)}\n`);
  }

  /** A spinner on stderr when it is a TTY and `--json` is off; stopped for you on errors. */
  protected spinner(text: string): Spinner {
    const s = startSpinner(text, !this.json);
    this.spinners.push(s);
    return s;
  }

  /** A job's progress bar on stderr when it is a TTY and `--json` is off; cleared for you on errors. */
  protected progressLine(): ProgressLine {
    const line = progressLine(!this.json);
    this.spinners.push({ update() {}, stop: () => line.stop() });
    return line;
  }

  override async catch(err: Error & { exitCode?: number; oclif?: { exit?: number } }): Promise<never> {
    for (const s of this.spinners) s.stop();
    // `this.exit(n)` throws an ExitError: a chosen exit code, already reported.
    if ((err as { code?: unknown }).code === 'EEXIT') throw err;
    const reported = this.describe(err);
    if (this.json) {
      process.stdout.write(
        `${JSON.stringify({ error: { code: reported.code, message: reported.message } })}\n`,
      );
    } else {
      process.stderr.write(`${reported.message}\n`);
      if (process.env.DEBUG && err.stack) process.stderr.write(`${err.stack}\n`);
    }
    this.exit(reported.exitCode);
    throw err; // unreachable: exit() throws
  }

  private describe(err: Error): ReportedError {
    if (err instanceof CliError) return { exitCode: err.exitCode, code: err.code, message: err.message };
    if ('parse' in err || (err as { oclif?: { exit?: number } }).oclif?.exit === 2) {
      return { exitCode: 2, code: 'usage_error', message: this.parseErrorSentence(err) };
    }
    if (err.name === 'ConfigError') return { exitCode: 1, code: 'invalid_config', message: err.message };
    // A client install leaves optional packages out; commands that need them check first
    // (requireExtras), this catches an import chain that was missed.
    if ((err as NodeJS.ErrnoException).code === 'ERR_MODULE_NOT_FOUND') {
      const name = /Cannot find package '([^']+)'/.exec(err.message)?.[1];
      if (name) {
        return {
          exitCode: 1,
          code: 'missing_extras',
          message: `this command needs the package ${name}, which is not installed: \`jobsctl extras list\` shows the optional groups and \`jobsctl extras install GROUP\` adds one`,
        };
      }
    }
    return { exitCode: 1, code: 'internal_error', message: err.message || String(err) };
  }

  /** oclif's multi-line parse errors, flattened to one sentence that points at --help. */
  private parseErrorSentence(err: Error): string {
    const cmd = `${this.config.bin} ${(this.id ?? '').replace(/:/g, ' ')}`.trim();
    const args = (err as { args?: { name?: string }[] }).args;
    let text: string;
    if (err.constructor.name === 'RequiredArgsError' && Array.isArray(args)) {
      text = `missing required argument ${args.map((a) => a.name).join(', ')}`;
    } else {
      const lines = stripVTControlCharacters(err.message)
        .split('\n')
        .map((l) => l.trim())
        .filter((l) => l && !/^See more help with/.test(l) && !/^The following errors? occurred:?$/.test(l));
      text = lines.join('; ');
    }
    return `${text.replace(/[.:;\s]+$/, '')}. See \`${cmd} --help\`.`;
  }
}
