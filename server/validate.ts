import type { z } from 'zod';
import { ValidationError } from '../core/errors.js';

/** Parses `input` with `schema` or throws a ValidationError naming the first bad field. */
export function parseOr400<T extends z.ZodType>(schema: T, input: unknown, where: string): z.infer<T> {
  const r = schema.safeParse(input);
  if (r.success) return r.data;
  const issue = r.error.issues[0];
  const field = issue.path.length ? issue.path.join('.') : where;
  throw new ValidationError(`${field}: ${issue.message}`, { issues: r.error.issues });
}
