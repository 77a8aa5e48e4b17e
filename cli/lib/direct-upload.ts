import { createHash } from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import type { ApiClient } from './api-client.js';
import { ApiError, CliError, NetworkError, networkReason } from './errors.js';

const MiB = 1024 * 1024;

/** Files above this many bytes go through `POST /api/uploads` (env JOBS_DIRECT_UPLOAD_THRESHOLD). */
export const DEFAULT_DIRECT_UPLOAD_THRESHOLD = 64 * MiB;

/** Parts in flight at once, for stores that take them in parallel (S3). */
const CONCURRENCY = 4;

/**
 * Bytes read from the file at a time. Measured on a 600 MB file: 4 MiB reads cost the CLI ~30%
 * less CPU than 256 KiB ones (fewer reads, socket writes and stream turns per byte). Each part in
 * flight reads into the same two buffers of this size over and over (PartBuffers).
 */
const READ_CHUNK = 4 * 1024 * 1024;

export function directUploadThreshold(env: Record<string, string | undefined> = process.env): number {
  const raw = env.JOBS_DIRECT_UPLOAD_THRESHOLD;
  if (raw === undefined || raw === '') return DEFAULT_DIRECT_UPLOAD_THRESHOLD;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 0) {
    throw new CliError(
      `JOBS_DIRECT_UPLOAD_THRESHOLD must be a whole number of bytes, not "${raw}"`,
      'bad_env',
    );
  }
  return n;
}

/** SHA-256 of a file, streamed from disk. */
export async function sha256File(file: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of fs.createReadStream(file, { highWaterMark: READ_CHUNK }))
    hash.update(chunk as Buffer);
  return hash.digest('hex');
}

export interface DirectUploadOptions {
  file: string;
  fileName: string;
  size: number;
  /** Bytes sent so far over all parts, and the total. */
  onProgress?: (sent: number, total: number) => void;
}

/**
 * Uploads a file as a direct upload: asks the API for part URLs, PUTs the parts (each streamed
 * from its byte range of the file), completes with the file's SHA-256, and returns the upload id
 * for `POST /api/jobs`. The same code serves S3 (presigned URLs) and the directory store (signed
 * URLs on the API): the part URLs are the credential, so no Authorization header goes with them.
 *
 * The file is read once and hashed once. When the store takes parts in order (`sequential`: the
 * directory store, which hashes them as they arrive and records its own SHA-256), they go one at
 * a time and the CLI hashes nothing: on one machine, a second SHA-256 of every byte in the client
 * was a third of the upload's CPU. Otherwise (S3, which never shows the API the bytes) 4 go at
 * once while the file is hashed beside them, and the hash is declared at completion.
 */
export async function directUpload(api: ApiClient, opts: DirectUploadOptions): Promise<string> {
  const begun = await api.beginUpload({ fileName: opts.fileName, size: opts.size });
  let sent = 0;
  const report = (n: number) => {
    sent += n;
    opts.onProgress?.(sent, opts.size);
  };
  const range = (partNumber: number) => {
    const start = (partNumber - 1) * begun.partSize;
    return [start, Math.min(start + begun.partSize, opts.size)] as const;
  };
  const etags: { partNumber: number; etag: string }[] = [];
  let sha256: string | undefined;
  if (begun.sequential) {
    const buffers = new PartBuffers();
    for (const part of begun.parts) {
      const [start, end] = range(part.partNumber);
      etags.push({
        partNumber: part.partNumber,
        etag: await putPart(part.url, opts.file, start, end, buffers, report),
      });
    }
  } else {
    const queue = [...begun.parts];
    const worker = async () => {
      const buffers = new PartBuffers();
      for (let part = queue.shift(); part; part = queue.shift()) {
        const [start, end] = range(part.partNumber);
        etags.push({
          partNumber: part.partNumber,
          etag: await putPart(part.url, opts.file, start, end, buffers, report),
        });
      }
    };
    const workers = Array.from({ length: Math.min(CONCURRENCY, begun.parts.length) }, worker);
    [sha256] = await Promise.all([sha256File(opts.file), ...workers]);
    etags.sort((a, b) => a.partNumber - b.partNumber);
  }
  await api.completeUpload(begun.uploadId, etags, sha256);
  return begun.uploadId;
}

/**
 * The two read buffers of one part sender, reused for every read of every part it sends: one is
 * filled from the file while the other is being written to the socket. A fresh 4 MiB buffer per
 * read (a read stream's way) cost the CLI a quarter of its upload CPU: ~270 ms of garbage
 * collection per GiB (each buffer is external memory the GC is pushed to reclaim), and fresh
 * pages to fault in for every read.
 */
class PartBuffers {
  readonly pair = [Buffer.allocUnsafeSlow(READ_CHUNK), Buffer.allocUnsafeSlow(READ_CHUNK)] as const;
}

/** PUTs bytes [start, end) of `file` to a presigned URL; resolves to the part's ETag. */
function putPart(
  url: string,
  file: string,
  start: number,
  end: number,
  buffers: PartBuffers,
  onBytes: (n: number) => void,
): Promise<string> {
  const target = new URL(url);
  const transport = target.protocol === 'https:' ? https : http;
  const length = end - start;
  return new Promise<string>((resolve, reject) => {
    let settled = false;
    const settle = (fn: () => void) => {
      if (!settled) {
        settled = true;
        fn();
      }
    };
    const req = transport.request(target, {
      method: 'PUT',
      headers: { 'content-length': String(length), expect: '100-continue' },
    });
    req.on('response', (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (text += d.length < 64 * 1024 ? d : ''));
      res.on('end', () => {
        const status = res.statusCode ?? 0;
        if (status >= 200 && status < 300 && res.headers.etag) {
          settle(() => resolve(String(res.headers.etag)));
        } else {
          req.destroy();
          settle(() => reject(partError(status, text, target)));
        }
      });
      res.on('error', (err) => settle(() => reject(err)));
    });
    req.on('continue', () => {
      sendRange(req, file, start, end, buffers, onBytes).catch((err: unknown) => {
        // A changed file is this side's error; otherwise the answer (an error status) or the
        // request's own error says what happened.
        if (err instanceof CliError) {
          req.destroy();
          settle(() => reject(err));
        }
      });
    });
    req.on('error', (err) =>
      settle(() =>
        reject(
          new NetworkError(`cannot upload a part to ${target.host}: ${networkReason(err)}`, {
            cause: err,
          }),
        ),
      ),
    );
    req.flushHeaders();
  });
}

/**
 * Writes bytes [start, end) of `file` as the request's body and ends it: a plain read loop over
 * the sender's two buffers, a buffer read into again only once the socket has taken all of it
 * (its write callback). Memory per part in flight: the two buffers, never the part.
 */
async function sendRange(
  req: http.ClientRequest,
  file: string,
  start: number,
  end: number,
  buffers: PartBuffers,
  onBytes: (n: number) => void,
): Promise<void> {
  const handle = await fs.promises.open(file, 'r');
  const writing: (Promise<void> | undefined)[] = [undefined, undefined];
  try {
    for (let at = start, i = 0; at < end; i ^= 1) {
      await writing[i];
      if (req.destroyed) return;
      const buffer = buffers.pair[i];
      const { bytesRead } = await handle.read(buffer, 0, Math.min(buffer.length, end - at), at);
      if (bytesRead === 0) throw new CliError(`${file} changed while it was being uploaded`, 'file_changed');
      at += bytesRead;
      writing[i] = writeChunk(req, buffer.subarray(0, bytesRead));
      onBytes(bytesRead);
    }
    await Promise.all(writing);
    req.end();
  } finally {
    // Writes still in flight when the request failed settle through its 'close' (writeChunk).
    await Promise.allSettled(writing);
    await handle.close();
  }
}

/** Resolves once the socket has taken `chunk` (or the request is gone: its failure is reported elsewhere). */
function writeChunk(req: http.ClientRequest, chunk: Buffer): Promise<void> {
  return new Promise((resolve) => {
    const gone = () => resolve();
    req.once('close', gone);
    req.write(chunk, () => {
      req.off('close', gone);
      resolve();
    });
  });
}

/** A refused part: the API's JSON error (directory store) or S3's XML `<Message>`. */
function partError(status: number, text: string, target: URL): ApiError {
  try {
    const body = JSON.parse(text) as { error?: { code?: string; message?: string } };
    if (body.error?.message) {
      return new ApiError(status, { code: body.error.code ?? `http_${status}`, message: body.error.message });
    }
  } catch {
    /* not JSON */
  }
  const code = /<Code>([^<]*)<\/Code>/.exec(text)?.[1];
  const message = /<Message>([^<]*)<\/Message>/.exec(text)?.[1];
  return new ApiError(status, {
    code: code ?? `http_${status}`,
    message: `uploading a part to ${target.host} failed: HTTP ${status}${message ? ` ${message}` : ''}`,
  });
}
