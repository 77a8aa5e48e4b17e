import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from '@jest/globals';
import type { JobContext, JobHandler } from '../../processor/handler.js';
import { createLatch, FileLatch, LATCH_HANDLER } from './latch.js';

/** What run-job hands a handler, enough for the latch types. */
function context<P>(
  handler: JobHandler<P>,
  jobId: string,
  params: unknown,
  signal: AbortSignal,
  attempt = 1,
) {
  const lines: string[] = [];
  const ctx = {
    jobId,
    params: handler.params.parse(params),
    input: null,
    inputInfo: null,
    log: { info: (m: string) => lines.push(m), warn: () => {}, error: () => {} },
    progress: () => {},
    signal,
    attempt,
  } as unknown as JobContext<P>;
  return { ctx, lines };
}

/** Whether `p` has settled after everything already queued has run (a macrotask later). */
async function settled(p: Promise<unknown>): Promise<boolean> {
  let done = false;
  p.then(
    () => (done = true),
    () => (done = true),
  );
  await new Promise((r) => setImmediate(r));
  return done;
}

describe('the in-process latch', () => {
  it('holds a run until released, and says when it started and ended', async () => {
    const latch = createLatch();
    const { ctx, lines } = context(latch.handler, 'job-1', { logLines: 2 }, new AbortController().signal);
    const started = latch.started('job-1');
    const run = latch.handler.run(ctx);
    expect(await started).toMatchObject({ jobId: 'job-1', attempt: 1 });
    expect(lines).toEqual(['line 1 of 2', 'line 2 of 2']);
    expect(await settled(run)).toBe(false);
    latch.release('job-1');
    await expect(run).resolves.toEqual({ attempt: 1 });
    expect(await latch.ended('job-1')).toMatchObject({ how: 'released' });
    // Released for good: a later run goes straight through.
    const again = context(latch.handler, 'job-1', {}, new AbortController().signal, 2);
    await expect(latch.handler.run(again.ctx)).resolves.toEqual({ attempt: 2 });
    expect(latch.runs.map((r) => r.attempt)).toEqual([1, 2]);
  });

  it('ends a run with its signal’s reason when aborted', async () => {
    const latch = createLatch();
    const ac = new AbortController();
    const run = latch.handler.run(context(latch.handler, 'job-2', {}, ac.signal).ctx);
    await latch.started('job-2');
    const reason = new Error('the job was cancelled');
    ac.abort(reason);
    await expect(run).rejects.toBe(reason);
    expect(await latch.ended('job-2')).toMatchObject({ how: 'aborted', attempt: 1 });
  });

  it('rejects started() after its deadline, naming the job', async () => {
    await expect(createLatch().started('nobody', { ms: 10 })).rejects.toThrow(
      /latch: job nobody not started within 10 ms \(runs seen: none\)/,
    );
  });
});

describe('the file latch (test/fixtures/latch-handler.mjs)', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'jobs-latch-'));
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('holds a run until the release file exists, or its signal aborts', async () => {
    const handler = ((await import(LATCH_HANDLER)) as { default: JobHandler }).default;
    const latch = new FileLatch(dir);

    const run = handler.run(context(handler, 'job-3', latch.params(), new AbortController().signal).ctx);
    expect(await latch.started('job-3')).toEqual([{ attempt: 1, pid: process.pid }]);
    expect(await settled(run)).toBe(false);
    latch.release('job-3');
    await expect(run).resolves.toEqual({ attempt: 1, pid: process.pid });

    const ac = new AbortController();
    const held = handler.run(context(handler, 'job-4', latch.params(), ac.signal).ctx);
    await latch.started('job-4');
    ac.abort(new Error('stopping'));
    await expect(held).rejects.toThrow('stopping');
  });
});
