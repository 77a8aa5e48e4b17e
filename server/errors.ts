import type { ErrorRequestHandler, RequestHandler } from 'express';
import type { Logger } from 'pino';
import { isTransientDbError } from '../core/db/transient.js';
import {
  AppError,
  DatabaseUnavailableError,
  NotFoundError,
  PayloadTooLargeError,
  TooManyRequestsError,
  ValidationError,
} from '../core/errors.js';

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
      // req.log (pino-http) carries the request id; the app's logger is the fallback.
      (req.log ?? logger).error({ err, method: req.method, url: req.originalUrl }, 'unhandled error');
      res.status(500).json({ error: { code: 'internal', message: 'internal server error' } });
      return;
    }
    if (appError.status === 413) res.setHeader('Connection', 'close');
    if (appError instanceof DatabaseUnavailableError) res.setHeader('Retry-After', '2');
    if (appError instanceof TooManyRequestsError)
      res.setHeader('Retry-After', String(Math.max(1, Math.ceil(appError.retryAfterSeconds))));
    res.status(appError.status).json({
      error: {
        code: appError.code,
        message: appError.message,
        ...(appError.details ? { details: appError.details } : {}),
      },
    });
  };
}

/** Errors raised by libraries (body-parser) that are really the client's. */
function toAppError(err: unknown): AppError | undefined {
  if (err instanceof AppError) return err;
  // PostgreSQL restarting or unreachable: the client may try again in a moment (503, not 500).
  if (isTransientDbError(err))
    return new DatabaseUnavailableError('the database is unavailable right now; try again in a few seconds');
  const e = err as { type?: string; status?: number };
  if (e?.type === 'entity.parse.failed') return new ValidationError('malformed JSON body');
  if (e?.type === 'entity.too.large') return new PayloadTooLargeError('JSON body too large');
  if (e?.status === 400 && e.type) return new ValidationError('malformed request body');
  return undefined;
}

export const notFound: RequestHandler = (req, _res, next) => {
  next(new NotFoundError(`no route for ${req.method} ${req.path}`));
};
