import { describe, expect, it } from '@jest/globals';
import {
  capError,
  capJson,
  capLogLine,
  capResult,
  droppedLinesMessage,
  LogRateLimiter,
  MAX_ERROR_CHARS,
  MAX_LOG_DATA_BYTES,
  MAX_LOG_MESSAGE_CHARS,
  MAX_RESULT_BYTES,
} from '../../../core/jobs/limits.js';

const bytes = (s: string) => Buffer.byteLength(s);

describe('capError', () => {
  it('keeps a short error as it is', () => {
    expect(capError('boom')).toBe('boom');
    expect(capError('x'.repeat(MAX_ERROR_CHARS))).toBe('x'.repeat(MAX_ERROR_CHARS));
  });

  it('cuts a long one, saying how much was left out', () => {
    const capped = capError('x'.repeat(MAX_ERROR_CHARS + 904));
    expect(capped).toBe(`${'x'.repeat(MAX_ERROR_CHARS)}… (904 more characters)`);
    // The 27.9 MB error of issue 14 (a header of a million duplicates).
    expect(capError('a'.repeat(28_000_000)).length).toBeLessThan(MAX_ERROR_CHARS + 40);
  });

  it('never splits a character made of two UTF-16 units', () => {
    const capped = capError(`${'x'.repeat(9)}😀😀`, 10);
    expect(capped).toBe(`${'x'.repeat(9)}… (4 more characters)`);
    expect(capped).not.toMatch(/[\uD800-\uDBFF](?![\uDC00-\uDFFF])/);
  });
});

describe('capJson and capResult', () => {
  it('keeps a value that fits as its JSON (bigints as numbers)', () => {
    expect(capJson({ a: [1, 'b', null], n: 10n }, 100)).toBe('{"a":[1,"b",null],"n":10}');
    expect(capResult({ rows: 2, columns: ['a', 'b'] })).toEqual({ rows: 2, columns: ['a', 'b'] });
    expect(capResult(null)).toBeNull();
    expect(capResult(undefined)).toBeNull();
    expect(capJson(() => 1, 100)).toBeUndefined();
  });

  it('stores a value JSON cannot hold (a cycle) as its string', () => {
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    expect(capJson(cyclic, 100)).toBe('"[object Object]"');
  });

  it('truncates long arrays, objects and strings with a count (first pass)', () => {
    const value = {
      columns: Array.from({ length: 1_000_000 }, () => 'a'),
      note: 'n'.repeat(1500),
    };
    const capped = capResult(value) as { columns: string[]; note: string };
    expect(capped.columns).toHaveLength(1001);
    expect(capped.columns[1000]).toBe('… (999000 more items)');
    expect(capped.note).toBe(`${'n'.repeat(1000)}… (500 more characters)`);
    expect(bytes(JSON.stringify(capped))).toBeLessThanOrEqual(MAX_RESULT_BYTES);

    const wide = Object.fromEntries(Array.from({ length: 10_000 }, (_, i) => [`column number ${i}`, i]));
    const cappedWide = capResult(wide) as Record<string, unknown>;
    expect(Object.keys(cappedWide)).toHaveLength(1001);
    expect(cappedWide['column number 999']).toBe(999);
    expect(cappedWide['…']).toBe('9000 more keys');
  });

  it('tightens the cut when the first pass is still too big', () => {
    // 1000 names of 500 characters: ~500 KB after the first pass, 100 x 200 after the second.
    const value = { columns: Array.from({ length: 5000 }, (_, i) => `${i}`.padEnd(500, 'x')) };
    const capped = capResult(value) as { columns: string[] };
    expect(capped.columns).toHaveLength(101);
    expect(capped.columns[0]).toBe(`0${'x'.repeat(199)}… (300 more characters)`);
    expect(capped.columns[100]).toBe('… (4900 more items)');
  });

  it('gives {truncated, bytes} when no pass fits', () => {
    // Nesting multiplies: the last pass keeps 10 x 10 x 10 leaves of 50+ characters, still > 1 KiB.
    const level = (d: number): unknown =>
      d === 0 ? 'y'.repeat(60) : Array.from({ length: 11 }, () => level(d - 1));
    const value = level(3);
    const size = bytes(JSON.stringify(value));
    expect(capJson(value, 1024)).toBe(JSON.stringify({ truncated: true, bytes: size }));
  });

  it('measures bytes, not characters', () => {
    const text = 'é'.repeat(3000); // 6000 bytes
    expect(capJson(text, 7000)).toBe(JSON.stringify(text));
    expect(capJson(text, 5000)).toBe(JSON.stringify(`${'é'.repeat(1000)}… (2000 more characters)`));
  });
});

describe('capLogLine', () => {
  it('keeps a small line as it is, its data as JSON text', () => {
    expect(capLogLine({ message: 'hi' })).toEqual({ message: 'hi' });
    expect(capLogLine({ message: 'hi', data: { n: 1n } })).toEqual({ message: 'hi', data: '{"n":1}' });
    expect(capLogLine({ message: 'hi', data: null })).toEqual({ message: 'hi', data: 'null' });
    expect(capLogLine({ message: 'hi', data: () => 1 })).toEqual({ message: 'hi', data: 'null' });
  });

  it('cuts the message to 4000 characters and the data to 8 KiB', () => {
    const line = capLogLine({
      message: 'm'.repeat(10_000),
      data: { errors: Array.from({ length: 20_000 }, (_, i) => `column ${i}: "x" is not an integer`) },
    });
    expect(line.message).toBe(`${'m'.repeat(MAX_LOG_MESSAGE_CHARS)}…`);
    expect(bytes(line.data!)).toBeLessThanOrEqual(MAX_LOG_DATA_BYTES);
    const data = JSON.parse(line.data!) as { errors: string[] };
    expect(data.errors.at(-1)).toMatch(/^… \(\d+ more items\)$/);
  });
});

describe('LogRateLimiter', () => {
  it('lets a burst through, then the rate; counts what it drops', () => {
    let now = 1_000_000;
    const limiter = new LogRateLimiter({ perSecond: 10, burst: 5, now: () => now });
    const allowed = (n: number) => Array.from({ length: n }, () => limiter.allow()).filter(Boolean).length;
    expect(allowed(8)).toBe(5); // the burst
    expect(limiter.takeDropped()).toBe(3);
    expect(limiter.takeDropped()).toBe(0);
    now += 300; // 3 lines' worth
    expect(allowed(10)).toBe(3);
    expect(limiter.takeDropped()).toBe(7);
    now += 60_000; // refills to the burst, not beyond
    expect(allowed(100)).toBe(5);
    expect(limiter.takeDropped()).toBe(95);
  });

  it('holds 1,000 lines a second on average by default', () => {
    let now = 0;
    const limiter = new LogRateLimiter({ now: () => now });
    let allowed = 0;
    // 10 s of a handler logging 100,000 lines a second (one every 10 µs).
    for (let i = 0; i < 1_000_000; i++) {
      now = i / 100;
      if (limiter.allow()) allowed++;
    }
    // The burst (10,000) plus 10 s at 1,000 a second.
    expect(allowed).toBeGreaterThanOrEqual(19_990);
    expect(allowed).toBeLessThanOrEqual(20_001);
  });

  it('words the summary line', () => {
    expect(droppedLinesMessage(1)).toBe('1 line dropped (rate limit)');
    expect(droppedLinesMessage(42)).toBe('42 lines dropped (rate limit)');
  });
});
