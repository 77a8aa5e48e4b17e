import { StringDecoder } from 'node:string_decoder';

/** One line of an NDJSON input: its 1-based number and its text, or the fact that it was too long. */
export type NdjsonLine = { line: number; text: string } | { line: number; tooLong: true };

/**
 * The lines of a byte stream, read as they arrive: memory holds one chunk and one line, never the
 * whole input. Blank lines are skipped (still counted, so numbers match an editor's); `\r\n`
 * endings and a UTF-8 BOM are handled. A line longer than `maxLineBytes` is not kept: it is
 * reported as `tooLong` and skipped to its end.
 *
 * @example
 * for await (const l of ndjsonLines(fs.createReadStream('jobs.ndjson'))) console.log(l.line);
 */
export async function* ndjsonLines(
  input: AsyncIterable<Buffer | string>,
  maxLineBytes = 1024 * 1024,
): AsyncGenerator<NdjsonLine> {
  const decoder = new StringDecoder('utf8');
  let line = 1;
  let pending = '';
  let tooLong = false;
  const finish = (text: string): NdjsonLine | undefined => {
    const t = text.endsWith('\r') ? text.slice(0, -1) : text;
    const n = line++;
    if (tooLong) {
      tooLong = false;
      return { line: n, tooLong: true };
    }
    const clean = n === 1 && t.startsWith('\uFEFF') ? t.slice(1) : t;
    return clean.trim() === '' ? undefined : { line: n, text: clean };
  };
  for await (const chunk of input) {
    const text = typeof chunk === 'string' ? chunk : decoder.write(chunk);
    let start = 0;
    for (let nl = text.indexOf('\n'); nl !== -1; nl = text.indexOf('\n', start)) {
      const got = finish(tooLong ? '' : pending + text.slice(start, nl));
      pending = '';
      start = nl + 1;
      if (got) yield got;
    }
    if (!tooLong) pending += text.slice(start);
    // Characters, not bytes, for speed: a UTF-8 character is at most 3 bytes per UTF-16 unit.
    if (!tooLong && pending.length * 3 > maxLineBytes && Buffer.byteLength(pending) > maxLineBytes) {
      tooLong = true;
      pending = '';
    }
  }
  pending += decoder.end();
  if (pending !== '' || tooLong) {
    const got = finish(pending);
    if (got) yield got;
  }
}
