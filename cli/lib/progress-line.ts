import { isTerminal, type Job } from './api-types.js';
import { formatProgress } from './format.js';
import { barCells } from './spinner.js';

/** Where the line is drawn: stderr on a terminal, a recorder in tests. */
export interface LineOutput {
  write(text: string): void;
  /** The terminal's width; the line is cut to fit so it never wraps (a wrapped line cannot be erased). */
  columns?: number;
}

/** Back to the line's start, then clear it. */
const ERASE = '\r\x1b[2K';

/**
 * `3f0c1a2b running [██████░░░░░░] 6.2 KB of 12 KB (50%)`: the job's progress as one line, or
 * undefined while there is none to show (no progress reported yet, or the job has ended).
 */
export function progressLineText(job: Job, columns = 80): string | undefined {
  if (!job.progress || isTerminal(job.status)) return undefined;
  const { done, total } = job.progress;
  const head = `${job.id.slice(0, 8)} ${job.status.toLowerCase()}`;
  const text = total
    ? `${head} ${barCells(done / total, 20)} ${formatProgress(job.progress, job.input)}`
    : `${head} ${formatProgress(job.progress, job.input)} done`;
  return text.length < columns ? text : `${text.slice(0, Math.max(columns - 2, 0))}…`;
}

/**
 * A progress bar kept on the terminal's last line while log lines scroll above it (`submit
 * --follow`, `logs --follow`): each job event redraws it, each log line is printed with the bar
 * erased first and drawn again after. Log lines go to stdout and the bar to stderr, so a piped
 * stdout gets the lines alone.
 */
export class ProgressLine {
  private text = '';

  constructor(private readonly out: LineOutput) {}

  /** From the live stream's job events: draws the job's progress (or clears it once it ended). */
  update(job: Job): void {
    const text = progressLineText(job, this.out.columns) ?? '';
    if (text === this.text) return;
    this.text = text;
    this.out.write(text ? `${ERASE}${text}` : ERASE);
  }

  /** Runs `print` (which writes whole lines) with the bar out of its way. */
  interleave(print: () => void): void {
    if (!this.text) return print();
    this.out.write(ERASE);
    print();
    this.out.write(this.text);
  }

  /** Clears the bar for good. */
  stop(): void {
    if (this.text) this.out.write(ERASE);
    this.text = '';
  }
}

/** A ProgressLine on stderr when it is a terminal with a width; otherwise one that draws nothing. */
export function progressLine(enabled: boolean, stream: NodeJS.WriteStream = process.stderr): ProgressLine {
  // A pty without a size (columns 0) cannot place a line: nothing there, as for spinners.
  if (!enabled || !stream.isTTY || !stream.columns) return new ProgressLine({ write() {} });
  return new ProgressLine({
    write: (t) => stream.write(t),
    get columns() {
      return stream.columns;
    },
  });
}
