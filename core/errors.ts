/**
 * Typed errors of the domain. Each carries the HTTP status and the stable `code` that the API
 * returns as `{"error":{"code","message","details"}}`; server/errors.ts is the one place that maps
 * them to responses. Anything else thrown is an internal error and its text never reaches a client.
 */
export class AppError extends Error {
  readonly status: number = 500;
  readonly code: string = 'internal';
  constructor(
    message: string,
    readonly details?: unknown,
    options?: ErrorOptions,
  ) {
    super(message, options);
    this.name = new.target.name;
  }
}

export class ValidationError extends AppError {
  override readonly status = 400;
  override readonly code = 'validation_failed';
}

export class UnknownJobTypeError extends AppError {
  override readonly status = 400;
  override readonly code = 'unknown_job_type';
}

export class UnauthorizedError extends AppError {
  override readonly status = 401;
  override readonly code = 'unauthorized';
}

export class ForbiddenError extends AppError {
  override readonly status = 403;
  override readonly code = 'forbidden';
}

export class NotFoundError extends AppError {
  override readonly status = 404;
  override readonly code = 'not_found';
}

export class ConflictError extends AppError {
  override readonly status = 409;
  override readonly code = 'conflict';
}

export class PayloadTooLargeError extends AppError {
  override readonly status = 413;
  override readonly code = 'payload_too_large';
}

export class UnsupportedMediaTypeError extends AppError {
  override readonly status = 415;
  override readonly code = 'unsupported_media_type';
}

/** A `Range` outside the resource (a job output's bytes); the answer says the size in `Content-Range`. */
export class RangeNotSatisfiableError extends AppError {
  override readonly status = 416;
  override readonly code = 'range_not_satisfiable';
}

/**
 * A limit was reached (429); the response carries `Retry-After: retryAfterSeconds`, when trying
 * again can succeed without the client changing anything.
 */
export class TooManyRequestsError extends AppError {
  override readonly status = 429;
  override readonly code: string = 'too_many_requests';
  constructor(
    message: string,
    readonly retryAfterSeconds: number,
    details?: unknown,
    options?: ErrorOptions,
  ) {
    super(message, details, options);
  }
}

/** The database cannot be reached right now (restarting, failing over): worth a retry shortly. */
export class DatabaseUnavailableError extends AppError {
  override readonly status = 503;
  override readonly code = 'database_unavailable';
}

/**
 * The request is well formed but cannot be done as asked: e.g. an Idempotency-Key reused with a
 * different request (`idempotency_conflict`), as payment APIs answer.
 */
export class IdempotencyConflictError extends AppError {
  override readonly status = 422;
  override readonly code = 'idempotency_conflict';
}

/**
 * A token holds as many event streams open as it may (JOBS_MAX_STREAMS_PER_TOKEN): a slot frees
 * as soon as one of its streams closes.
 */
export class TooManyStreamsError extends TooManyRequestsError {
  override readonly code = 'too_many_streams';
}

/** The caller's request rate limit is used up for this window (JOBS_RATE_LIMIT_PER_MINUTE). */
export class RateLimitedError extends TooManyRequestsError {
  override readonly code = 'rate_limited';
}

/** The caller has as many jobs waiting or running as allowed (JOBS_MAX_ACTIVE_JOBS_PER_USER). */
export class QuotaExceededError extends TooManyRequestsError {
  override readonly code = 'quota_exceeded';
}

/** The store ran out of space (ENOSPC) while writing: nothing was kept; try again later. */
export class InsufficientStorageError extends AppError {
  override readonly status = 507;
  override readonly code = 'insufficient_storage';
}
