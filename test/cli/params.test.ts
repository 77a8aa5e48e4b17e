import { describe, expect, it } from '@jest/globals';
import { UsageError } from '../../cli/lib/errors.js';
import { mergeParams, parseParamValue } from '../../cli/lib/params.js';

describe('parseParamValue', () => {
  it.each([
    ['3', 3],
    ['-1.5', -1.5],
    ['true', true],
    ['false', false],
    ['null', null],
    ['[1,"a"]', [1, 'a']],
    ['{"a":1}', { a: 1 }],
    ['"quoted"', 'quoted'],
    ['hello', 'hello'],
    ['', ''],
    [';', ';'],
    ['2024-01-01', '2024-01-01'],
  ])('%s → %j', (raw, value) => {
    expect(parseParamValue(raw)).toEqual(value);
  });
});

describe('mergeParams', () => {
  it('is empty with nothing given', () => {
    expect(mergeParams([], undefined)).toEqual({});
  });

  it('parses --param values as JSON when they parse, else keeps the string', () => {
    expect(mergeParams(['maxErrors=0', 'delimiter=;', 'required=["a","b"]', 'flag=true'])).toEqual({
      maxErrors: 0,
      delimiter: ';',
      required: ['a', 'b'],
      flag: true,
    });
  });

  it('splits on the first = only', () => {
    expect(mergeParams(['expr=a=b'])).toEqual({ expr: 'a=b' });
  });

  it('lets --param win over --params-json, and a later --param over an earlier one', () => {
    expect(mergeParams(['maxErrors=0', 'x=1', 'x=2'], '{"maxErrors":5,"types":{"q":"integer"}}')).toEqual({
      maxErrors: 0,
      types: { q: 'integer' },
      x: 2,
    });
  });

  it('keeps __proto__ as a plain key', () => {
    const p = mergeParams(['__proto__={"polluted":1}']);
    expect(Object.getPrototypeOf(p)).toBe(Object.prototype);
    expect(JSON.stringify(p)).toBe('{"__proto__":{"polluted":1}}');
  });

  it.each([['noequals'], ['=value']])('rejects --param %s as a usage error', (pair) => {
    expect(() => mergeParams([pair])).toThrow(UsageError);
    expect(() => mergeParams([pair])).toThrow(/--param expects key=value/);
  });

  it.each([['{bad'], ['[1,2]'], ['3'], ['null'], ['"s"']])('rejects --params-json %s', (json) => {
    let err: unknown;
    try {
      mergeParams([], json);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(UsageError);
    expect((err as UsageError).exitCode).toBe(2);
    expect((err as Error).message).toMatch(/^--params-json /);
  });
});
