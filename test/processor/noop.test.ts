import { Readable } from 'node:stream';
import { describe, expect, it } from '@jest/globals';
import { z } from 'zod';
import { JobFailure, type JobContext } from '../../processor/handler.js';
import { builtinHandlers, handlersByType } from '../../processor/handlers/index.js';
import { noop, type NoopParams } from '../../processor/handlers/noop.js';
import { memoryOutputs } from '../helpers/output-writer.js';

function start(
  params: unknown,
  { signal = new AbortController().signal, input = null as Readable | null } = {},
) {
  const logs: string[] = [];
  const progress: [number, number | null | undefined][] = [];
  const ctx: JobContext<NoopParams> = {
    jobId: 'job-1',
    params: noop.params.parse(params),
    input,
    inputInfo: input ? { name: 'x.bin', size: 0, sha256: '0'.repeat(64) } : null,
    log: { info: (m) => logs.push(m), warn: (m) => logs.push(m), error: (m) => logs.push(m) },
    progress: (done, total) => {
      progress.push([done, total]);
    },
    signal,
    attempt: 1,
    outputs: memoryOutputs(),
  };
  return { result: noop.run(ctx), logs, progress };
}

describe('noop', () => {
  it('does nothing by default', async () => {
    const run = start({});
    await expect(run.result).resolves.toEqual({ sleptMs: 0, logLines: 0 });
    expect(run.logs).toEqual([]);
    expect(run.progress.at(-1)).toEqual([0, 0]);
  });

  it('logs logLines lines and reports progress', async () => {
    const run = start({ logLines: 2500 });
    await expect(run.result).resolves.toEqual({ sleptMs: 0, logLines: 2500 });
    expect(run.logs).toHaveLength(2500);
    expect(run.logs[0]).toBe('line 1 of 2500');
    expect(run.logs[2499]).toBe('line 2500 of 2500');
    expect(run.progress).toContainEqual([1000, 2500]);
    expect(run.progress.at(-1)).toEqual([2500, 2500]);
  });

  it('sleeps sleepMs', async () => {
    const started = Date.now();
    const run = start({ sleepMs: 150, logLines: 1 });
    await expect(run.result).resolves.toEqual({ sleptMs: 150, logLines: 1 });
    expect(Date.now() - started).toBeGreaterThanOrEqual(145);
    expect(run.progress.at(-1)).toEqual([151, 151]);
  });

  it('fails when asked, after doing the rest', async () => {
    const run = start({ fail: true, logLines: 3 });
    const err = await run.result.catch((e: unknown) => e);
    expect(err).toBeInstanceOf(JobFailure);
    expect((err as Error).message).toBe('noop failed as requested');
    expect(run.logs).toHaveLength(3);
  });

  it('wakes at once when aborted, with the abort reason', async () => {
    const controller = new AbortController();
    const started = Date.now();
    const run = start({ sleepMs: 60_000 }, { signal: controller.signal });
    const reason = new Error('cancelled by owner');
    setTimeout(() => controller.abort(reason), 30);
    await expect(run.result).rejects.toBe(reason);
    // Long before its 60 s sleep would end (generous: a loaded machine).
    expect(Date.now() - started).toBeLessThan(10_000);
  });

  it('throws an AbortError when aborted without a reason', async () => {
    const controller = new AbortController();
    const run = start({ sleepMs: 60_000 }, { signal: controller.signal });
    setTimeout(() => controller.abort(), 10);
    await expect(run.result).rejects.toMatchObject({ name: 'AbortError' });
  });

  it('does not start when already aborted', async () => {
    const controller = new AbortController();
    controller.abort(new Error('deadline'));
    await expect(start({ logLines: 5 }, { signal: controller.signal }).result).rejects.toThrow('deadline');
  });

  it('reads an input through when given one', async () => {
    const input = Readable.from([Buffer.alloc(1000), Buffer.alloc(24)]);
    await expect(start({}, { input }).result).resolves.toEqual({ sleptMs: 0, logLines: 0, inputBytes: 1024 });
  });

  it('validates params, naming the field', () => {
    const message = (p: unknown) => {
      const r = noop.params.safeParse(p);
      expect(r.success).toBe(false);
      return z.prettifyError(r.error!);
    };
    expect(noop.params.parse({})).toEqual({ sleepMs: 0, fail: false, logLines: 0 });
    expect(message({ sleepMs: -1 })).toMatch(/sleepMs/);
    expect(message({ sleepMs: 24 * 3600_000 + 1 })).toMatch(/sleepMs/);
    expect(message({ logLines: 1.5 })).toMatch(/logLines/);
    expect(message({ logLines: 1_000_001 })).toMatch(/logLines/);
    expect(message({ fail: 'yes' })).toMatch(/fail/);
    expect(message({ sleep: 5 })).toMatch(/sleep/);
  });
});

describe('handler registry', () => {
  it('finds the built-in handlers by type, and refuses two of one type', () => {
    const byType = handlersByType(builtinHandlers);
    expect([...byType.keys()]).toEqual(['csv-import', 'noop']);
    expect(byType.get('noop')).toBe(noop);
    expect(byType.get('csv-import')?.input).toBe('required');
    expect(byType.get('nope')).toBeUndefined();
    for (const h of builtinHandlers) expect(h.description.length).toBeGreaterThan(10);
    expect(() => handlersByType([...builtinHandlers, { ...noop }])).toThrow(
      'two job handlers have type "noop"',
    );
  });
});
