/**
 * Durations as people write them on a command line: a whole number and a unit, `90s`, `10m`,
 * `2h`, `7d`, `2w`. Written here rather than taken from a library: five units, one regex, and the
 * error names what was given (the common `ms` package also takes "1.5 years" and returns
 * undefined on errors).
 */
const UNITS = { s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 } as const;
const PATTERN = /^(\d{1,9})(s|m|h|d|w)$/;

/** Milliseconds in `text` (e.g. "7d"), or null when it is not a duration. */
export function parseDuration(text: string): number | null {
  const m = PATTERN.exec(text.trim());
  if (!m) return null;
  return Number(m[1]) * UNITS[m[2] as keyof typeof UNITS];
}

/** The sentence an invalid duration gets. */
export const DURATION_HINT = 'a whole number and a unit: s, m, h, d or w (e.g. 90s, 10m, 2h, 7d)';
