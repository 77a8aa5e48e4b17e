import fs from 'node:fs';
import { pathToFileURL } from 'node:url';
import type { JobHandler } from '../processor/handler.js';

export class HandlerModuleError extends Error {
  override name = 'HandlerModuleError';
}

/**
 * The job handlers a module exports, for JOBS_HANDLERS: `export default` a handler or an array of
 * them, or `export const handlers = [...]`. Each is checked for the shape the platform needs, so a
 * mistake is a one-sentence error at start-up rather than a failure at the first job.
 */
export function handlersOf(mod: Record<string, unknown>, from: string): JobHandler[] {
  const exported = mod.handlers ?? mod.default;
  const list = Array.isArray(exported) ? exported : exported === undefined ? [] : [exported];
  if (list.length === 0)
    throw new HandlerModuleError(
      `${from}: export default a job handler or an array of them (or export const handlers)`,
    );
  return list.map((h, i) => checkHandler(h, `${from}: handler ${i + 1}`));
}

/**
 * Imports each module of JOBS_HANDLERS (absolute paths) and returns their handlers in order. A
 * module is imported as any ES module is, so its own imports (`zod`) resolve from its directory.
 */
export async function loadHandlerModules(paths: readonly string[]): Promise<JobHandler[]> {
  const all: JobHandler[] = [];
  for (const p of paths) {
    if (!fs.existsSync(p)) throw new HandlerModuleError(`JOBS_HANDLERS: cannot load ${p}: no such file`);
    let mod: Record<string, unknown>;
    try {
      mod = (await import(pathToFileURL(p).href)) as Record<string, unknown>;
    } catch (err) {
      throw new HandlerModuleError(`JOBS_HANDLERS: cannot load ${p}: ${(err as Error).message}`);
    }
    all.push(...handlersOf(mod, p));
  }
  return all;
}

function checkHandler(h: unknown, where: string): JobHandler {
  const c = h as Partial<JobHandler> | null;
  const problem =
    !c || typeof c !== 'object'
      ? 'is not an object'
      : typeof c.type !== 'string' || !/^[a-z0-9][a-z0-9._-]{0,62}$/.test(c.type)
        ? 'needs a `type` of lowercase letters, digits, ".", "_" or "-"'
        : typeof c.run !== 'function'
          ? 'needs a `run(ctx)` function'
          : typeof (c.params as { safeParse?: unknown } | undefined)?.safeParse !== 'function'
            ? 'needs `params`, a zod schema'
            : !['required', 'optional', 'none'].includes(c.input as string)
              ? 'needs `input`: "required", "optional" or "none"'
              : typeof c.description !== 'string'
                ? 'needs a `description`'
                : undefined;
  if (problem) throw new HandlerModuleError(`${where} ${problem}`);
  return c as JobHandler;
}
