import type { JobHandler } from '../handler.js';
import { csvImport } from './csv-import.js';
import { noop } from './noop.js';

/** Every job type. To add one: a file in this folder and a line here. */
export const handlers: readonly JobHandler[] = [csvImport, noop];

const byType = new Map<string, JobHandler>();
for (const handler of handlers) {
  if (byType.has(handler.type)) throw new Error(`two job handlers have type ${handler.type}`);
  byType.set(handler.type, handler);
}

export function findHandler(type: string): JobHandler | undefined {
  return byType.get(type);
}

export function handlerTypes(): string[] {
  return [...byType.keys()];
}
