import type { JobHandler } from '../handler.js';
import { csvImport } from './csv-import.js';
import { noop } from './noop.js';

/**
 * The built-in job types. A deployment's own types are added beside them by the composition root
 * (`compose(config, { handlers })`, or modules named in JOBS_HANDLERS): no edit here needed.
 */
export const builtinHandlers: readonly JobHandler[] = [csvImport, noop];

/** Handlers by type; throws on two handlers of one type (a typo or a clash with a built-in). */
export function handlersByType(handlers: readonly JobHandler[]): ReadonlyMap<string, JobHandler> {
  const byType = new Map<string, JobHandler>();
  for (const h of handlers) {
    if (byType.has(h.type)) throw new Error(`two job handlers have type "${h.type}"`);
    byType.set(h.type, h);
  }
  return byType;
}
