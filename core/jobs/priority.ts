/**
 * Job priorities run from PRIORITY_MIN to PRIORITY_MAX (higher first, default 0). Bounded so a
 * priority stays an ordinal a person picks ("urgent" 10, "background" -10) rather than an arms
 * race of ever larger numbers, and so the range fits the database CHECK and the OpenAPI schema.
 */
export const PRIORITY_MIN = -100;
export const PRIORITY_MAX = 100;

export function isPriority(n: number): boolean {
  return Number.isSafeInteger(n) && n >= PRIORITY_MIN && n <= PRIORITY_MAX;
}
