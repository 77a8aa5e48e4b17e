import { describe, expect, it } from '@jest/globals';
import { submitBatches } from '../../cli/lib/batch-submit.js';
import { ApiError } from '../../cli/lib/errors.js';
import { ndjsonLines, type NdjsonLine } from '../../cli/lib/ndjson.js';

async function* chunks(...parts: (string | Buffer)[]) {
  for (const p of parts) yield typeof p === 'string' ? Buffer.from(p) : p;
}

const all = async <T>(it: AsyncIterable<T>) => {
  const out: T[] = [];
  for await (const x of it) out.push(x);
  return out;
};

describe('ndjsonLines', () => {
  it('splits lines across chunks, numbers them, skips blank ones; CRLF, a BOM and split characters', async () => {
    const euro = Buffer.from('{"n":"€"}\n');
    const lines = await all(
      ndjsonLines(
        chunks('\uFEFF{"a":1}\r\n\n{"b"', ':2}\n   \n', euro.subarray(0, 7), euro.subarray(7), '{"c":3}'),
      ),
    );
    expect(lines).toEqual([
      { line: 1, text: '{"a":1}' },
      { line: 3, text: '{"b":2}' },
      { line: 5, text: '{"n":"€"}' },
      { line: 6, text: '{"c":3}' },
    ]);
  });

  it('reports a line over the limit without keeping it, and goes on after it', async () => {
    const long = 'x'.repeat(100);
    const lines = await all(
      ndjsonLines(chunks('{"a":1}\n', long.slice(0, 60), long.slice(60), '\n{"b":2}\n', long), 50),
    );
    expect(lines).toEqual([
      { line: 1, text: '{"a":1}' },
      { line: 2, tooLong: true },
      { line: 3, text: '{"b":2}' },
      { line: 4, tooLong: true },
    ]);
  });
});

describe('submitBatches', () => {
  const lines = (n: number): AsyncIterable<NdjsonLine> =>
    (async function* () {
      for (let i = 1; i <= n; i++) yield { line: i, text: JSON.stringify({ type: 'noop', i }) };
    })();

  it('sends chunks of at most maxJobs, and says from which line nothing was submitted when one is refused', async () => {
    const sent: number[] = [];
    const api = {
      async createJobsBatch(jobs: Record<string, unknown>[]) {
        sent.push(jobs.length);
        if (sent.length === 2)
          throw new ApiError(429, { code: 'rate_limited', message: 'rate limit exceeded' });
        return {
          created: jobs.length,
          existing: 0,
          failed: 0,
          results: jobs.map(() => ({ status: 201 as const, job: { id: 'j', type: 'noop' } as never })),
        };
      },
    };
    const got: number[] = [];
    await expect(
      (async () => {
        for await (const results of submitBatches(api, lines(7), { maxJobs: 3 })) got.push(results.length);
      })(),
    ).rejects.toMatchObject({
      code: 'rate_limited',
      status: 429,
      message: 'rate limit exceeded (lines from 4 on were not submitted)',
    });
    expect(sent).toEqual([3, 3]);
    expect(got).toEqual([3]);
  });

  it('passes the first refusal through unchanged (nothing was submitted)', async () => {
    const api = {
      createJobsBatch: () =>
        Promise.reject(new ApiError(401, { code: 'unauthorized', message: 'missing or invalid API token' })),
    };
    await expect(all(submitBatches(api, lines(2)))).rejects.toMatchObject({
      message: 'missing or invalid API token',
    });
  });

  it('cuts a chunk by bytes too', async () => {
    const sent: number[] = [];
    const api = {
      async createJobsBatch(jobs: Record<string, unknown>[]) {
        sent.push(jobs.length);
        return {
          created: 0,
          existing: 0,
          failed: 0,
          results: jobs.map(() => ({ status: 201 as const, job: {} as never })),
        };
      },
    };
    await all(submitBatches(api, lines(10), { maxBytes: 60 }));
    expect(sent).toEqual([2, 2, 2, 2, 2]);
  });
});
