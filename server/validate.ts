import type { z } from 'zod';
import { ValidationError } from '../core/errors.js';

/** Parses `input` with `schema` or throws a ValidationError naming the first bad field. */
export function parseOr400<T extends z.ZodType>(schema: T, input: unknown, where: string): z.infer<T> {
  const r = parseOrError(schema, input, where);
  if (r instanceof ValidationError) throw r;
  return r.data;
}

/**
 * Parses `input` with `schema`: `{ data }`, or the ValidationError naming the first bad field
 * (for callers that report it instead of throwing it: one job of a batch).
 */
export function parseOrError<T extends z.ZodType>(
  schema: T,
  input: unknown,
  where: string,
): { data: z.infer<T> } | ValidationError {
  const r = schema.safeParse(input);
  if (r.success) return { data: r.data };
  const issue = r.error.issues[0];
  const field = issue.path.length ? issue.path.join('.') : where;
  return new ValidationError(`${field}: ${issue.message}`, { issues: r.error.issues });
}
