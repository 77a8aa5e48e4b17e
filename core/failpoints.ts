/**
 * Failpoints: TEST-ONLY crash points that let the kill tests stop a worker at an exact phase of a
 * job's delivery (before the claim, after the handler returned but before the status write,
 * after the status write but before the acknowledgement). Armed only by the test entry point
 * (test/fixtures/counting-jobs.mjs, from JOBS_FAILPOINTS, e.g. `after-handler:kill`): no
 * production entry point or configuration arms them. Unarmed, `failpoint()` is one comparison.
 */
export const FAILPOINT_NAMES = ['before-claim', 'after-handler', 'before-ack'] as const;
export type FailpointName = (typeof FAILPOINT_NAMES)[number];
/** `kill`: the process SIGKILLs itself, as an OOM kill or a pulled plug would. */
export type FailpointAction = 'kill';

let armed: ReadonlyMap<FailpointName, FailpointAction> | undefined;

/** Parses `name:action[,name:action…]`; throws a one-sentence Error on anything else. */
export function parseFailpoints(spec: string): Map<FailpointName, FailpointAction> {
  const points = new Map<FailpointName, FailpointAction>();
  for (const part of spec
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)) {
    const [name, action] = part.split(':');
    if (!(FAILPOINT_NAMES as readonly string[]).includes(name))
      throw new Error(`unknown failpoint "${name}" (known: ${FAILPOINT_NAMES.join(', ')})`);
    if (action !== 'kill') throw new Error(`unknown failpoint action "${action}" in "${part}" (known: kill)`);
    points.set(name as FailpointName, action);
  }
  return points;
}

/** Arms the failpoints of a parsed JOBS_FAILPOINTS (undefined or empty disarms them all). */
export function armFailpoints(points: ReadonlyMap<FailpointName, FailpointAction> | undefined): void {
  armed = points && points.size > 0 ? points : undefined;
}

/** Marks a crash point; does nothing unless a test armed it. */
export function failpoint(name: FailpointName): void {
  if (armed === undefined) return;
  if (armed.get(name) === 'kill') {
    process.stderr.write(`failpoint ${name}: killing process ${process.pid}\n`);
    process.kill(process.pid, 'SIGKILL');
    // SIGKILL is delivered at once; block this thread so not one more statement runs meanwhile.
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 10_000);
  }
}
