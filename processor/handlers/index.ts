import type { JobHandler } from '../handler.js';
import { csvImport } from './csv-import.js';
import { noop } from './noop.js';

/** Every job type. To add one: a file in this folder and a line here. */
export const handlers: JobHandler[] = [];

const byType = new Map<string, JobHandler>();

/**
 * Adds a job type at start-up, before the server or worker starts (the built-in ones are added
 * here; test fixtures add theirs, e.g. the kill tests' counting handler).
 */
export function registerHandler(handler: JobHandler): void {
  if (byType.has(handler.type)) throw new Error(`two job handlers have type ${handler.type}`);
  byType.set(handler.type, handler);
  handlers.push(handler);
}

for (const handler of [csvImport, noop]) registerHandler(handler);

export function findHandler(type: string): JobHandler | undefined {
  return byType.get(type);
}

export function handlerTypes(): string[] {
  return [...byType.keys()];
}
