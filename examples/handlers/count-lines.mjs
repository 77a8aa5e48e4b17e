// A job type of your own that reads its input file as a stream (never the whole file in memory):
// counts the lines, and with `contains` the lines holding that text, logging the first few.
//
//   JOBS_HANDLERS=examples/handlers/count-lines.mjs node bin/run.js server
//   node bin/run.js submit examples/orders.csv --type count-lines --param contains=example.org --follow
import { createInterface } from 'node:readline';
import { z } from 'zod';

/** Lines read between two progress reports (and cancellation checks). */
const EVERY = 10_000;

export default {
  type: 'count-lines',
  description:
    'Counts the lines of the input file; with contains, also the lines holding that text (logs the first show).',
  params: z.strictObject({
    contains: z.string().min(1).max(1000).optional(),
    show: z.int().min(0).max(1000).default(10),
  }),
  input: 'required',
  async run(ctx) {
    const { contains, show } = ctx.params;
    const { name, size } = ctx.inputInfo;
    ctx.log.info(`counting the lines of ${name} (${size} bytes)`);
    let bytes = 0;
    ctx.input.on('data', (chunk) => (bytes += chunk.length));
    // readline decodes UTF-8 across chunk boundaries and takes \n and \r\n as line ends.
    const lines = createInterface({ input: ctx.input, crlfDelay: Infinity });
    let count = 0;
    let matches = 0;
    ctx.progress(0, size);
    for await (const line of lines) {
      count++;
      if (contains !== undefined && line.includes(contains)) {
        matches++;
        if (matches <= show) ctx.log.info(`line ${count}: ${line.slice(0, 200)}`);
      }
      if (count % EVERY === 0) {
        ctx.progress(bytes, size);
        ctx.signal.throwIfAborted();
      }
    }
    ctx.signal.throwIfAborted();
    ctx.progress(size, size);
    ctx.log.info(
      contains === undefined
        ? `${count} lines`
        : `${count} lines, ${matches} containing ${JSON.stringify(contains)}`,
    );
    return contains === undefined ? { lines: count } : { lines: count, matches };
  },
};
