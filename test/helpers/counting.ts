import fs from 'node:fs';
import path from 'node:path';
import { ROOT } from '../cli/helpers/run-cli.js';

/** The `jobs` CLI plus the test-only `count` job type (see the fixture's header). */
export const COUNTING_BIN = path.join(ROOT, 'test', 'fixtures', 'counting-jobs.mjs');

export interface HandlerRun {
  event: 'start' | 'done';
  jobId: string;
  attempt: number;
  pid: number;
}

/** The lines the `count` handler appended to `file` (none yet: an empty list). */
export function readRuns(file: string): HandlerRun[] {
  if (!fs.existsSync(file)) return [];
  return fs
    .readFileSync(file, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((line) => {
      const [event, jobId, attempt, pid] = line.split(' ');
      return { event: event as HandlerRun['event'], jobId, attempt: Number(attempt), pid: Number(pid) };
    });
}

/** Polls `read` until `ok` holds (every 100 ms, up to `ms`); throws with the last value otherwise. */
export async function until<T>(
  what: string,
  read: () => Promise<T> | T,
  ok: (v: T) => boolean,
  ms = 90_000,
): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await read();
    if (ok(v)) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}: ${JSON.stringify(v)}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}
