import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { CliError } from './errors.js';

/** A text field, or a file read from disk while the body is sent (never held in memory). */
export type MultipartPart =
  | { name: string; value: string }
  | { name: string; filename: string; path: string; size: number; contentType?: string };

export interface MultipartBody {
  boundary: string;
  /** `multipart/form-data; boundary=…` */
  contentType: string;
  /** Exact byte length of the body: every part's size is known up front. */
  contentLength: number;
  /** The whole body, chunk by chunk; file bytes are read from disk as the consumer pulls. */
  chunks(): AsyncGenerator<Uint8Array>;
  /** The same as a web ReadableStream (for `fetch`). */
  stream(): ReadableStream<Uint8Array>;
}

export interface MultipartOptions {
  boundary?: string;
  /** Called after each chunk is handed to the consumer, with bytes so far and the total. */
  onProgress?: (sent: number, total: number) => void;
  /** Read size for files (default 256 KiB). */
  chunkSize?: number;
}

const CRLF = '\r\n';

/** Quoted-string escaping of the HTML form-data encoding: `"` CR LF become %22 %0D %0A. */
function escapeQuoted(s: string): string {
  return s.replace(/"/g, '%22').replace(/\r/g, '%0D').replace(/\n/g, '%0A');
}

function partHeader(boundary: string, part: MultipartPart): Buffer {
  let disposition = `form-data; name="${escapeQuoted(part.name)}"`;
  let type = '';
  if ('path' in part) {
    disposition += `; filename="${escapeQuoted(part.filename)}"`;
    // Parsers that read parameters as latin1 (busboy's default) still get a UTF-8 name this way.
    if (/[^\x20-\x7e]/.test(part.filename)) {
      disposition += `; filename*=UTF-8''${encodeURIComponent(part.filename)}`;
    }
    type = `Content-Type: ${part.contentType ?? contentTypeFor(part.filename)}${CRLF}`;
  }
  return Buffer.from(`--${boundary}${CRLF}Content-Disposition: ${disposition}${CRLF}${type}${CRLF}`, 'utf8');
}

const TYPES: Record<string, string> = {
  '.csv': 'text/csv',
  '.tsv': 'text/tab-separated-values',
  '.txt': 'text/plain',
  '.json': 'application/json',
  '.ndjson': 'application/x-ndjson',
  '.gz': 'application/gzip',
  '.zip': 'application/zip',
};

export function contentTypeFor(filename: string): string {
  return TYPES[path.extname(filename).toLowerCase()] ?? 'application/octet-stream';
}

/**
 * Encodes `parts` as multipart/form-data, in order, as a pull-based stream with a known length,
 * so a large file goes out at the pace the network takes it and is never held in memory.
 *
 * @example
 * const body = buildMultipart([
 *   { name: 'type', value: 'csv-import' },
 *   { name: 'file', filename: 'orders.csv', path: './orders.csv', size: stat.size },
 * ]);
 * await pipeline(Readable.from(body.chunks()), http.request(url, { method: 'POST',
 *   headers: { 'content-type': body.contentType, 'content-length': String(body.contentLength) } }));
 */
export function buildMultipart(parts: MultipartPart[], opts: MultipartOptions = {}): MultipartBody {
  const boundary = opts.boundary ?? `----jobs-cli-${randomBytes(12).toString('hex')}`;
  const chunkSize = opts.chunkSize ?? 256 * 1024;
  const headers = parts.map((p) => partHeader(boundary, p));
  const values = parts.map((p) => ('path' in p ? null : Buffer.from(p.value, 'utf8')));
  const closing = Buffer.from(`--${boundary}--${CRLF}`, 'utf8');
  const contentLength =
    parts.reduce((n, p, i) => n + headers[i].length + ('path' in p ? p.size : values[i]!.length) + 2, 0) +
    closing.length;

  async function* chunks(): AsyncGenerator<Uint8Array> {
    for (const [i, part] of parts.entries()) {
      yield headers[i];
      if ('path' in part) {
        let read = 0;
        // `end` bounds the read, so a file that grows while we send cannot overrun Content-Length.
        const file = fs.createReadStream(part.path, {
          highWaterMark: chunkSize,
          end: Math.max(part.size - 1, 0),
        });
        try {
          if (part.size > 0) {
            for await (const chunk of file as AsyncIterable<Buffer>) {
              read += chunk.length;
              yield chunk;
            }
          }
        } finally {
          file.destroy();
        }
        if (read !== part.size) {
          throw new CliError(`${part.filename} changed while it was being uploaded`, 'file_changed');
        }
      } else {
        yield values[i]!;
      }
      yield Buffer.from(CRLF);
    }
    yield closing;
  }

  async function* counted(): AsyncGenerator<Uint8Array> {
    let sent = 0;
    for await (const chunk of chunks()) {
      yield chunk;
      // After the yield: the consumer has taken the chunk.
      sent += chunk.length;
      opts.onProgress?.(sent, contentLength);
    }
  }

  return {
    boundary,
    contentType: `multipart/form-data; boundary=${boundary}`,
    contentLength,
    chunks: counted,
    stream() {
      const it = counted();
      return new ReadableStream<Uint8Array>(
        {
          async pull(controller) {
            const { value, done } = await it.next();
            if (done) controller.close();
            else controller.enqueue(value);
          },
          async cancel() {
            await it.return(undefined);
          },
        },
        { highWaterMark: 0 },
      );
    },
  };
}
