import type { ApiErrorBody } from './api-types.js';

/**
 * Errors the CLI reports itself. Each has a stable `code` (shown with `--json`) and the exit code
 * the contract gives it: 2 for usage errors, 1 for everything else.
 */
export class CliError extends Error {
  readonly exitCode: number = 1;
  constructor(
    message: string,
    readonly code = 'error',
    options?: ErrorOptions,
  ) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** Bad flags, arguments or local input (a missing FILE): exit 2. */
export class UsageError extends CliError {
  override readonly exitCode = 2;
  constructor(message: string, code = 'usage_error') {
    super(message, code);
  }
}

/** The API answered with an error: its `{error:{code,message,details}}` and the HTTP status. */
export class ApiError extends CliError {
  /** A job type the server does not know is the user's typo in --type: a usage error (exit 2). */
  override readonly exitCode: number;

  constructor(
    readonly status: number,
    readonly body: ApiErrorBody['error'],
  ) {
    super(body.message, body.code);
    this.exitCode = body.code === 'unknown_job_type' ? 2 : 1;
  }

  get details(): unknown {
    return this.body.details;
  }
}

/** The API could not be reached at all (refused, DNS, reset, timeout). */
export class NetworkError extends CliError {
  constructor(message: string, options?: ErrorOptions) {
    super(message, 'network_error', options);
  }
}

const REASONS: Record<string, string> = {
  ECONNREFUSED: 'connection refused',
  ENOTFOUND: 'host not found',
  EAI_AGAIN: 'host not found',
  ECONNRESET: 'connection reset',
  EPIPE: 'connection closed',
  ETIMEDOUT: 'connection timed out',
  EHOSTUNREACH: 'host unreachable',
  ENETUNREACH: 'network unreachable',
  UND_ERR_CONNECT_TIMEOUT: 'connection timed out',
  UND_ERR_SOCKET: 'connection closed',
  UND_ERR_HEADERS_TIMEOUT: 'no answer in time',
  UND_ERR_BODY_TIMEOUT: 'no answer in time',
};

/** Turns what `fetch` throws into a short reason: "connection refused", not "TypeError: fetch failed". */
export function networkReason(err: unknown): string {
  let e: unknown = err;
  for (let depth = 0; e && depth < 5; depth++) {
    const anyErr = e as { code?: string; errors?: unknown[]; cause?: unknown; message?: string };
    if (anyErr.code && REASONS[anyErr.code]) return REASONS[anyErr.code];
    // Happy-eyeballs connects fail with an AggregateError of one error per address.
    if (Array.isArray(anyErr.errors) && anyErr.errors.length > 0) {
      e = anyErr.errors[0];
      continue;
    }
    if (!anyErr.cause) {
      const msg = anyErr.message ?? String(e);
      return msg === 'fetch failed' ? 'the request failed' : msg;
    }
    e = anyErr.cause;
  }
  return 'the request failed';
}
