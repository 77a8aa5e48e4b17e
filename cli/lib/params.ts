import { Flags } from '@oclif/core';
import { UsageError } from './errors.js';

/** The flags that give a job's params (`jobs submit`, `jobs schedules create`); see `mergeParams`. */
export const paramFlags = {
  param: Flags.string({
    char: 'p',
    description: 'a parameter as key=value (repeatable); the value is parsed as JSON when it parses',
    multiple: true,
    multipleNonGreedy: true,
  }),
  'params-json': Flags.string({ description: 'all parameters as a JSON object' }),
};

/** `"3"` → 3, `"[1,2]"` → [1,2], `"true"` → true, `"hello"` → "hello" (JSON when it parses). */
export function parseParamValue(raw: string): unknown {
  try {
    return JSON.parse(raw);
  } catch {
    return raw;
  }
}

/**
 * Merges `--params-json` (the whole object) with `--param k=v` flags; a `--param` wins where both
 * set a key, and a later `--param` wins over an earlier one.
 *
 * @example
 * mergeParams(['maxErrors=0', 'delimiter=;'], '{"maxErrors":5}') // { maxErrors: 0, delimiter: ';' }
 */
export function mergeParams(pairs: readonly string[] = [], json?: string): Record<string, unknown> {
  let base: Record<string, unknown> = {};
  if (json !== undefined) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(json);
    } catch (err) {
      throw new UsageError(`--params-json is not valid JSON: ${(err as Error).message}`);
    }
    if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
      throw new UsageError('--params-json must be a JSON object, like \'{"maxErrors":5}\'');
    }
    base = parsed as Record<string, unknown>;
  }
  const params: Record<string, unknown> = { ...base };
  for (const pair of pairs) {
    const eq = pair.indexOf('=');
    if (eq <= 0) {
      throw new UsageError(`--param expects key=value, got "${pair}"`);
    }
    // defineProperty, not assignment: a key like "__proto__" must stay a plain key.
    Object.defineProperty(params, pair.slice(0, eq), {
      value: parseParamValue(pair.slice(eq + 1)),
      enumerable: true,
      writable: true,
      configurable: true,
    });
  }
  return params;
}
