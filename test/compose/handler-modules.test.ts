import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { z } from 'zod';
import { compose } from '../../compose/compose.js';
import { HandlerModuleError, handlersOf, loadHandlerModules } from '../../compose/handler-modules.js';
import { packageRoot } from '../../core/package-root.js';
import type { JobContext, JobHandler } from '../../processor/handler.js';
import { testConfig } from '../helpers/config.js';
import { memoryOutputs } from '../helpers/output-writer.js';

/**
 * JOBS_HANDLERS modules (compose/handler-modules.ts): the three shapes a module may export, a
 * one-sentence error for each wrong one, and the examples in examples/handlers/. The modules are
 * real files imported by Node's loader; those written here live in a temp directory with a copy of
 * zod of their own in its node_modules, as a team's module beside its project would.
 */
const EXAMPLES = path.join(packageRoot(), 'examples', 'handlers');

let dir: string;
beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'jobs-handler-modules-'));
  fs.cpSync(path.join(packageRoot(), 'node_modules', 'zod'), path.join(dir, 'node_modules', 'zod'), {
    recursive: true,
  });
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

/** Writes an ES module into the temp directory; returns its absolute path. */
function moduleFile(name: string, source: string): string {
  const file = path.join(dir, name);
  fs.writeFileSync(file, `import { z } from 'zod';\n${source}\n`);
  return file;
}

/** A handler's source, `over` replacing or adding members. */
function handlerSource(type: string, over = ''): string {
  return `{
    type: ${JSON.stringify(type)},
    description: 'a test type',
    params: z.strictObject({ n: z.int().default(1) }),
    input: 'none',
    async run(ctx) { return { n: ctx.params.n }; },
    ${over}
  }`;
}

const messageOf = (p: Promise<unknown>) =>
  p.then(
    () => 'resolved',
    (err: Error) => `${err.name}: ${err.message}`,
  );

describe('loadHandlerModules', () => {
  it('takes export default of one handler, export default of an array, and export const handlers', async () => {
    const single = moduleFile('single.mjs', `export default ${handlerSource('one')};`);
    const array = moduleFile(
      'array.mjs',
      `export default [${handlerSource('two')}, ${handlerSource('three', "input: 'optional',")}];`,
    );
    const named = moduleFile(
      'named.mjs',
      `export const handlers = [${handlerSource('four', 'maxAttempts: 7,')}];\nexport const unrelated = 1;`,
    );
    const handlers = await loadHandlerModules([single, array, named]);
    expect(handlers.map((h) => [h.type, h.input, h.maxAttempts])).toEqual([
      ['one', 'none', undefined],
      ['two', 'none', undefined],
      ['three', 'optional', undefined],
      ['four', 'none', 7],
    ]);
    // Each is the module's own object, runnable as is.
    await expect(
      handlers[0].run({ params: handlers[0].params.parse({}) } as JobContext<unknown>),
    ).resolves.toEqual({ n: 1 });
  });

  it('prefers export const handlers over export default when a module has both', async () => {
    const both = moduleFile(
      'both.mjs',
      `export const handlers = [${handlerSource('named')}];\nexport default ${handlerSource('default')};`,
    );
    expect((await loadHandlerModules([both])).map((h) => h.type)).toEqual(['named']);
  });

  it('loads a module whose zod is a copy of its own, and the API can describe its params', async () => {
    const own = moduleFile(
      'own-zod.mjs',
      `export default ${handlerSource('own')};\nexport const zodUrl = import.meta.resolve('zod');`,
    );
    const [h] = await loadHandlerModules([own]);
    const mod = (await import(own)) as { zodUrl: string };
    expect(mod.zodUrl.startsWith(`file://${dir}/node_modules/zod/`)).toBe(true);
    // What GET /api/job-types does with it (server/routes/job-types.ts), with the platform's zod.
    expect(z.toJSONSchema(h.params, { io: 'input', unrepresentable: 'any' })).toMatchObject({
      type: 'object',
      properties: { n: { type: 'integer', default: 1 } },
    });
    expect(h.params.safeParse({ n: 'x' }).success).toBe(false);
  });

  const bad: [string, string, string][] = [
    [
      'no export',
      'export const something = 1;',
      ': export default a job handler or an array of them (or export const handlers)',
    ],
    [
      'an empty array',
      'export default [];',
      ': export default a job handler or an array of them (or export const handlers)',
    ],
    ['a function', 'export default function run() {}', ': handler 1 is not an object'],
    ['null', 'export default null;', ': handler 1 is not an object'],
    [
      'no type',
      `export default ${handlerSource('x', 'type: undefined,')};`,
      ': handler 1 needs a `type` of lowercase letters, digits, ".", "_" or "-"',
    ],
    [
      'a type with capitals',
      `export default ${handlerSource('Greet')};`,
      ': handler 1 needs a `type` of lowercase letters, digits, ".", "_" or "-"',
    ],
    [
      'a type with a space',
      `export default ${handlerSource('say hello')};`,
      ': handler 1 needs a `type` of lowercase letters, digits, ".", "_" or "-"',
    ],
    [
      'no run',
      `export default ${handlerSource('x', 'run: undefined,')};`,
      ': handler 1 needs a `run(ctx)` function',
    ],
    [
      'params not a schema',
      `export default ${handlerSource('x', 'params: { n: 1 },')};`,
      ': handler 1 needs `params`, a zod schema',
    ],
    [
      'no params',
      `export default ${handlerSource('x', 'params: undefined,')};`,
      ': handler 1 needs `params`, a zod schema',
    ],
    [
      'a wrong input',
      `export default ${handlerSource('x', "input: 'yes',")};`,
      ': handler 1 needs `input`: "required", "optional" or "none"',
    ],
    [
      'no description',
      `export default ${handlerSource('x', 'description: undefined,')};`,
      ': handler 1 needs a `description`',
    ],
    [
      'a bad second handler',
      `export const handlers = [${handlerSource('ok')}, ${handlerSource('x', 'run: 1,')}];`,
      ': handler 2 needs a `run(ctx)` function',
    ],
  ];
  it.each(bad)('refuses a module with %s in one sentence', async (name, source, message) => {
    const file = moduleFile(`bad-${name.replace(/\W+/g, '-')}.mjs`, source);
    expect(await messageOf(loadHandlerModules([file]))).toBe(`HandlerModuleError: ${file}${message}`);
  });

  it('refuses a module that does not exist or does not load, naming it', async () => {
    const missing = path.join(dir, 'missing.mjs');
    expect(await messageOf(loadHandlerModules([missing]))).toBe(
      `HandlerModuleError: JOBS_HANDLERS: cannot load ${missing}: no such file`,
    );
    const broken = moduleFile('broken.mjs', 'export default {');
    expect(await messageOf(loadHandlerModules([broken]))).toBe(
      `HandlerModuleError: JOBS_HANDLERS: cannot load ${broken}: Unexpected end of input`,
    );
    const throws = moduleFile('throws.mjs', "throw new Error('no API key');");
    expect(await messageOf(loadHandlerModules([throws]))).toBe(
      `HandlerModuleError: JOBS_HANDLERS: cannot load ${throws}: no API key`,
    );
  });

  it('refuses a module whose zod cannot be found from its own directory', async () => {
    const elsewhere = fs.mkdtempSync(path.join(os.tmpdir(), 'jobs-handler-no-zod-'));
    try {
      const file = path.join(elsewhere, 'greet.mjs');
      fs.copyFileSync(path.join(EXAMPLES, 'greet.mjs'), file);
      expect(await messageOf(loadHandlerModules([file]))).toMatch(
        new RegExp(`^HandlerModuleError: JOBS_HANDLERS: cannot load ${file}: .*'zod'`),
      );
    } finally {
      fs.rmSync(elsewhere, { recursive: true, force: true });
    }
  });

  it('handlersOf reads module namespaces the same way (the Lambda build uses it)', () => {
    const h = { type: 'x', description: 'd', params: z.object({}), input: 'none', run: async () => 1 };
    expect(handlersOf({ default: h }, 'm')).toEqual([h]);
    expect(handlersOf({ default: [h] }, 'm')).toEqual([h]);
    expect(handlersOf({ handlers: [h] }, 'm')).toEqual([h]);
    expect(() => handlersOf({}, 'm')).toThrow(
      new HandlerModuleError(
        'm: export default a job handler or an array of them (or export const handlers)',
      ),
    );
  });
});

describe('compose with JOBS_HANDLERS', () => {
  it('refuses at start a type that clashes with a built-in, before opening anything', async () => {
    const clash = moduleFile('clash.mjs', `export default ${handlerSource('csv-import')};`);
    const dataDir = path.join(dir, 'data');
    const config = testConfig({ JOBS_HANDLERS: clash, JOBS_DATA_DIR: dataDir });
    expect(await messageOf(compose(config))).toBe('Error: two job handlers have type "csv-import"');
    expect(fs.existsSync(dataDir)).toBe(false);
  });

  it('refuses two modules that give the same type', async () => {
    const a = moduleFile('dup-a.mjs', `export default ${handlerSource('dup')};`);
    const b = moduleFile('dup-b.mjs', `export default ${handlerSource('dup')};`);
    const config = testConfig({ JOBS_HANDLERS: `${a},${b}`, JOBS_DATA_DIR: path.join(dir, 'data') });
    expect(await messageOf(compose(config))).toBe('Error: two job handlers have type "dup"');
  });
});

/** A context for running a handler directly: logs and progress recorded. */
function context<P>(
  handler: JobHandler<P>,
  params: unknown,
  opts: { input?: string; signal?: AbortSignal } = {},
) {
  const logs: string[] = [];
  const progress: [number, number | null | undefined][] = [];
  const ctx: JobContext<P> = {
    jobId: 'job-1',
    params: handler.params.parse(params),
    input: opts.input === undefined ? null : Readable.from([Buffer.from(opts.input)]),
    inputInfo:
      opts.input === undefined ? null : { name: 'in.txt', size: Buffer.byteLength(opts.input), sha256: '' },
    log: { info: (m) => logs.push(m), warn: (m) => logs.push(m), error: (m) => logs.push(m) },
    progress: (done, total) => void progress.push([done, total]),
    signal: opts.signal ?? new AbortController().signal,
    attempt: 1,
    outputs: memoryOutputs(),
  };
  return { ctx, logs, progress };
}

describe('examples/handlers', () => {
  it('greet.mjs and count-lines.mjs load as JOBS_HANDLERS modules', async () => {
    const handlers = await loadHandlerModules([
      path.join(EXAMPLES, 'greet.mjs'),
      path.join(EXAMPLES, 'count-lines.mjs'),
    ]);
    expect(handlers.map((h) => [h.type, h.input])).toEqual([
      ['greet', 'none'],
      ['count-lines', 'required'],
    ]);
  });

  it('greet logs a line per name, reports progress, and fails on "nobody"', async () => {
    const [greet] = await loadHandlerModules([path.join(EXAMPLES, 'greet.mjs')]);
    const run = context(greet, { names: ['Ada', 'Grace'], greeting: 'hi' });
    await expect(greet.run(run.ctx)).resolves.toEqual({ greeted: 2 });
    expect(run.logs).toEqual(['hi, Ada!', 'hi, Grace!']);
    expect(run.progress).toEqual([
      [0, 2],
      [1, 2],
      [2, 2],
    ]);
    expect(greet.params.safeParse({ names: [] }).success).toBe(false);
    const nobody = context(greet, { names: ['Ada', 'nobody'] });
    await expect(greet.run(nobody.ctx)).rejects.toThrow('there is nobody to greet (name 2)');
    expect(nobody.logs).toEqual(['hello, Ada!']);
  });

  it('greet stops at once when its signal is aborted during a pause', async () => {
    const [greet] = await loadHandlerModules([path.join(EXAMPLES, 'greet.mjs')]);
    const abort = new AbortController();
    const run = context(greet, { names: ['Ada', 'Grace'], pauseMs: 60_000 }, { signal: abort.signal });
    const result = greet.run(run.ctx);
    // The first name is greeted, then it sleeps: abort it then.
    const reason = new Error('cancelled');
    for (let i = 0; run.logs.length === 0 && i < 1000; i++) await new Promise((r) => setImmediate(r));
    expect(run.logs).toEqual(['hello, Ada!']);
    abort.abort(reason);
    await expect(result).rejects.toBe(reason);
    expect(run.logs).toEqual(['hello, Ada!']);
  });

  it('count-lines streams its input: lines (CRLF, no final newline) and the ones containing a text', async () => {
    const [countLines] = await loadHandlerModules([path.join(EXAMPLES, 'count-lines.mjs')]);
    const plain = context(countLines, {}, { input: 'a\nb\r\nc' });
    await expect(countLines.run(plain.ctx)).resolves.toEqual({ lines: 3 });
    expect(plain.logs).toEqual(['counting the lines of in.txt (6 bytes)', '3 lines']);
    expect(plain.progress.at(-1)).toEqual([6, 6]);

    const text = Array.from({ length: 25_000 }, (_, i) => (i % 1000 === 0 ? `x${i} ünï` : `${i}`)).join('\n');
    const grep = context(countLines, { contains: 'x', show: 2 }, { input: `${text}\n` });
    await expect(countLines.run(grep.ctx)).resolves.toEqual({ lines: 25_000, matches: 25 });
    expect(grep.logs.slice(1)).toEqual([
      'line 1: x0 ünï',
      'line 1001: x1000 ünï',
      '25000 lines, 25 containing "x"',
    ]);
    // Progress at the start, every 10,000 lines, and at the end.
    expect(grep.progress).toHaveLength(4);
  });
});
