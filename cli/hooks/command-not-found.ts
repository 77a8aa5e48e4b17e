import type { Hook } from '@oclif/core';

/**
 * An unknown command is a usage error (exit 2, one sentence on stderr, as the contract says),
 * with the closest command as a suggestion. Written here rather than @oclif/plugin-not-found:
 * that plugin exits 127 and, off a terminal (CI logs), suggests nothing.
 */
const hook: Hook.CommandNotFound = async function (opts) {
  const sep = opts.config.topicSeparator;
  // With a space separator oclif folds the arguments into the id ("sumbit:orders.csv"): the
  // command typed is the topics, then one word.
  const words = opts.id.split(':');
  let n = 1;
  while (n < words.length && opts.config.findTopic(words.slice(0, n).join(':'))) n++;
  const typed = words.slice(0, n).join(sep);
  const ids = opts.config.commands.filter((c) => !c.hidden).map((c) => c.id.replaceAll(':', sep));
  const best = closest(typed, ids);
  const sentence =
    `"${typed}" is not a ${opts.config.bin} command` +
    (best ? `; did you mean "${best}"?` : '') +
    ` (${opts.config.bin} help lists them)`;
  if (opts.argv?.includes('--json'))
    process.stdout.write(JSON.stringify({ error: { code: 'usage_error', message: sentence } }) + '\n');
  else process.stderr.write(sentence + '\n');
  this.exit(2);
};

/** The id nearest to `typed` by edit distance, if it is near enough to be a typo. */
export function closest(typed: string, ids: readonly string[]): string | undefined {
  let best: { id: string; d: number } | undefined;
  for (const id of ids) {
    const d = distance(typed, id);
    if (!best || d < best.d) best = { id, d };
  }
  return best && best.d <= Math.max(2, Math.floor(typed.length / 3)) ? best.id : undefined;
}

/** Levenshtein distance (two rows). */
function distance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++)
      row[j] = Math.min(prev[j]! + 1, row[j - 1]! + 1, prev[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    prev = row;
  }
  return prev[b.length]!;
}

export default hook;
