import ora, { type Ora } from 'ora';

/** A status line on stderr; a no-op unless stderr is a TTY and `--json` is off. */
export interface Spinner {
  update(text: string): void;
  /** Clears the line (a final message, if any, is the caller's to print). */
  stop(): void;
}

const noop: Spinner = { update() {}, stop() {} };

export function startSpinner(text: string, enabled: boolean): Spinner {
  // A pty without a size (columns 0, e.g. under `script` with no terminal) would make ora
  // compute an infinite number of lines to clear: no spinner there either.
  if (!enabled || !process.stderr.isTTY || !process.stderr.columns) return noop;
  // discardStdin off: raw mode would swallow Ctrl+C while we wait on the network.
  const s: Ora = ora({ text, stream: process.stderr, discardStdin: false }).start();
  return {
    update(t) {
      s.text = t;
    },
    stop() {
      s.stop();
    },
  };
}

/** `[█████░░░░░] 48% 12.3 MB/s` */
export function progressBar(done: number, total: number, bytesPerSecond?: number, width = 24): string {
  const ratio = total > 0 ? Math.min(done / total, 1) : 1;
  const rate = bytesPerSecond !== undefined ? ` ${(bytesPerSecond / 1e6).toFixed(1)} MB/s` : '';
  return `${barCells(ratio, width)} ${Math.floor(ratio * 100)}%${rate}`;
}

/** `[█████░░░░░]`: `ratio` (0 to 1) of `width` cells filled. */
export function barCells(ratio: number, width = 24): string {
  const filled = Math.round(Math.min(Math.max(ratio, 0), 1) * width);
  return `[${'█'.repeat(filled)}${'░'.repeat(width - filled)}]`;
}
