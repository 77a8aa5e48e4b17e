import busboy from 'busboy';
import type { Request, Response } from 'express';
import { sendContinue } from './continue.js';
import type { Readable } from 'node:stream';
import { inputKey, type BlobStore } from '../core/blobs/blob-store.js';
import { PayloadTooLargeError, ValidationError } from '../core/errors.js';

export interface UploadedJob {
  type: string;
  params: unknown;
  /** The `maxAttempts` field, as sent (the route validates it). */
  maxAttempts?: string;
  /** The `delay` / `runAt` fields, as sent (JobsService checks them). */
  delay?: string;
  runAt?: string;
  /** The `webhookUrl` field, as sent (JobsService checks it). */
  webhookUrl?: string;
  /** The `priority` field, as sent (the route validates it). */
  priority?: string;
  input?: { key: string; name: string; size: number; sha256: string };
}

export interface UploadOptions {
  blobs: BlobStore;
  maxBytes: number;
  ownerId: string;
  jobId: string;
  /** Checks type and params; called before the file is stored when the fields come first. */
  validate(type: string, params: unknown, hasInput: boolean): void;
  /** Checks the other fields (e.g. maxAttempts), at the same moments as `validate`. */
  checkFields?(fields: Record<string, string>): void;
}

/** Room for the multipart framing and the small fields around the file. */
const MULTIPART_OVERHEAD = 1024 * 1024;

/**
 * Reads a `multipart/form-data` job submission (`type`, optional `params` JSON, optional `file`)
 * and streams the file straight into the blob store under the server's key for this job,
 * measuring size and SHA-256 on the way; nothing is buffered. On any error the stored blob is
 * removed, so a rejected request leaves nothing behind.
 */
export async function receiveJobUpload(
  req: Request,
  res: Response,
  opts: UploadOptions,
): Promise<UploadedJob> {
  const declared = Number(req.headers['content-length']);
  if (Number.isFinite(declared) && declared > opts.maxBytes + MULTIPART_OVERHEAD) {
    throw new PayloadTooLargeError(
      `request of ${declared} bytes exceeds the upload limit of ${opts.maxBytes} bytes`,
    );
  }
  sendContinue(req, res);
  const key = inputKey(opts.ownerId, opts.jobId);
  const state: { upload?: Promise<unknown> } = {};
  try {
    const result = await parse(req, opts, key, state);
    if (result.input && result.input.size === 0) throw new ValidationError('the file is empty');
    if (result.input === undefined) opts.validate(result.type, result.params, false);
    return result;
  } catch (err) {
    if (state.upload) {
      // Let the store finish or abort its write before removing what it wrote.
      await state.upload.catch(() => {});
      await opts.blobs.delete(key).catch(() => {});
    }
    throw err;
  }
}

function parse(
  req: Request,
  opts: UploadOptions,
  key: string,
  state: { upload?: Promise<unknown> },
): Promise<UploadedJob> {
  return new Promise((resolve, reject) => {
    let bb: busboy.Busboy;
    try {
      bb = busboy({
        headers: req.headers,
        preservePath: true,
        limits: { files: 1, fields: 10, fieldSize: 1024 * 1024, parts: 12 },
      });
    } catch {
      return reject(new ValidationError('malformed multipart/form-data request'));
    }
    const fields: Record<string, string> = {};
    let upload: Promise<UploadedJob['input']> | undefined;
    let file: Readable | undefined;
    let failed = false;

    const fail = (err: unknown) => {
      if (failed) return;
      failed = true;
      // Stop reading: the error response closes the connection (see errorHandler). Destroying
      // the file stream makes the blob store abandon its partial write.
      req.unpipe(bb);
      req.resume();
      file?.destroy(err instanceof Error ? err : new Error(String(err)));
      reject(err);
    };

    const typeAndParams = (): { type: string; params: unknown } => {
      const type = fields.type?.trim();
      if (!type) throw new ValidationError('type is required');
      let params: unknown = {};
      if (fields.params !== undefined && fields.params.trim() !== '') {
        try {
          params = JSON.parse(fields.params);
        } catch {
          throw new ValidationError('params must be a JSON object (the field is not valid JSON)');
        }
      }
      return { type, params };
    };

    bb.on('field', (name, value, info) => {
      if (info.valueTruncated) return fail(new ValidationError(`field ${name} is too large`));
      fields[name] = value;
    });

    bb.on('file', (name, stream: Readable, info) => {
      if (name !== 'file' || upload) {
        stream.resume();
        return fail(
          new ValidationError(`unexpected file field "${name}"; send one file in the "file" field`),
        );
      }
      const fileName = checkFileName(info.filename);
      if (fileName instanceof ValidationError) {
        stream.resume();
        return fail(fileName);
      }
      // Fields sent before the file (as the CLI does) are checked before a byte is stored.
      if (fields.type !== undefined) {
        try {
          const { type, params } = typeAndParams();
          opts.validate(type, params, true);
          opts.checkFields?.(fields);
        } catch (err) {
          stream.resume();
          return fail(err);
        }
      }
      file = stream;
      upload = opts.blobs
        .put(key, stream, { maxBytes: opts.maxBytes })
        .then((b) => ({ key, name: fileName, ...b }));
      state.upload = upload;
      upload.catch(fail);
    });

    bb.on('error', () => fail(new ValidationError('malformed multipart/form-data request')));
    bb.on('partsLimit', () => fail(new ValidationError('too many parts in the request')));
    bb.on('filesLimit', () => fail(new ValidationError('send one file only')));
    bb.on('fieldsLimit', () => fail(new ValidationError('too many fields in the request')));

    bb.on('close', async () => {
      if (failed) return;
      try {
        const input = await upload;
        const { type, params } = typeAndParams();
        if (input) opts.validate(type, params, true);
        opts.checkFields?.(fields);
        resolve({
          type,
          params,
          input,
          maxAttempts: fields.maxAttempts,
          delay: fields.delay,
          runAt: fields.runAt,
          webhookUrl: fields.webhookUrl,
          priority: fields.priority,
        });
      } catch (err) {
        fail(err);
      }
    });

    req.on('aborted', () => fail(new ValidationError('the upload was interrupted')));
    req.pipe(bb);
  });
}

/**
 * The client's filename is kept only as a label; it never becomes a path. One that tries to be
 * a path (`../x`, `a/b`) or carries control characters is refused rather than silently renamed.
 */
export function checkFileName(name: string | undefined): string | ValidationError {
  if (!name) return new ValidationError('the file part has no filename');
  // eslint-disable-next-line no-control-regex
  if (/[/\\]|^\.\.?$|[\x00-\x1f\x7f]/.test(name) || name.length > 255) {
    return new ValidationError(
      `invalid filename ${JSON.stringify(name)}: send a plain file name without a path`,
    );
  }
  return name;
}
