import type { ErrorRequestHandler, RequestHandler } from 'express';
import type { Logger } from 'pino';
import { isTransientDbError } from '../core/db/transient.js';
import {
  AppError,
  DatabaseUnavailableError,
  InsufficientStorageError,
  NotFoundError,
  PayloadTooLargeError,
  UnsupportedMediaTypeError,
  ValidationError,
} from '../core/errors.js';
import { requestLog } from './http-middleware.js';
import { redactUrl } from './redact-url.js';

/**
 * The one place errors become HTTP responses: `{"error":{"code","message","details"}}`.
 * AppErrors carry their status and a message meant for the client; anything else is logged
 * and answered with a generic 500, so internal details never leak.
 */
export function errorHandler(logger: Logger): ErrorRequestHandler {
  return (err, req, res, next) => {
    if (res.headersSent) return next(err);
    const appError = toAppError(err);
    if (!appError) {
      // The line carries the request's id (requestLog).
      requestLog(req, logger).error(
        { err, method: req.method, url: redactUrl(req.originalUrl) },
        'unhandled error',
      );
      res.status(500).json({ error: { code: 'internal', message: 'internal server error' } });
      return;
    }
    // An answer sent before the request's body was read: the connection cannot carry another
    // request until the rest of the body has been read and thrown away, so it is closed instead
    // (a refused upload part, a 413, a full disk).
    if (appError.status === 413 || !req.complete) res.setHeader('Connection', 'close');
    if (appError instanceof DatabaseUnavailableError) res.setHeader('Retry-After', '2');
    // Limits (too many streams, requests or open uploads) say when to come back.
    const retryAfter = (appError as { retryAfterSeconds?: unknown }).retryAfterSeconds;
    if (typeof retryAfter === 'number')
      res.setHeader('Retry-After', String(Math.max(1, Math.ceil(retryAfter))));
    res.status(appError.status).json(errorBody(appError));
  };
}

/** The API's error shape, `{"error":{"code","message","details"}}` (also one job's error in a batch). */
export function errorBody(err: AppError): {
  error: { code: string; message: string; details?: unknown };
} {
  return {
    error: { code: err.code, message: err.message, ...(err.details ? { details: err.details } : {}) },
  };
}

/** Errors raised by libraries (body-parser) that are really the client's. */
function toAppError(err: unknown): AppError | undefined {
  if (err instanceof AppError) return err;
  // PostgreSQL restarting or unreachable: the client may try again in a moment (503, not 500).
  if (isTransientDbError(err))
    return new DatabaseUnavailableError('the database is unavailable right now; try again in a few seconds');
  const e = err as { type?: string; status?: number; code?: string; expose?: boolean; errno?: number };
  // A disk that filled up under a write the store did not wrap (it maps its own).
  if (e?.code === 'ENOSPC')
    return new InsufficientStorageError('the server ran out of storage space; try again later');
  if (e?.type === 'entity.parse.failed') return new ValidationError('malformed JSON body');
  if (e?.type === 'entity.too.large') return new PayloadTooLargeError('JSON body too large');
  if (e?.type === 'encoding.unsupported')
    return new UnsupportedMediaTypeError('unsupported Content-Encoding: send identity, gzip, deflate or br');
  // body-parser passes zlib's errors on as 400s without a `type`: the body is not what its
  // Content-Encoding says.
  if (e?.status === 400 && e.expose && typeof e.errno === 'number')
    return new ValidationError(
      'the request body could not be decompressed (it does not match its Content-Encoding)',
    );
  if (e?.status === 400 && (e.type || e.expose)) return new ValidationError('malformed request body');
  return undefined;
}

export const notFound: RequestHandler = (req, _res, next) => {
  next(new NotFoundError(`no route for ${req.method} ${req.path}`));
};
