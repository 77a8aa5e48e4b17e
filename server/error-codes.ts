/**
 * Every `error.code` the API can answer: those of the typed errors (core/errors.ts), mapped to
 * responses in server/errors.ts, plus the few answers written outside it (`internal` for an
 * unexpected error, `request_timeout` from server/http-limits.ts). The OpenAPI document's `Error`
 * schema lists exactly these; test/server/openapi.test.ts checks the list against the sources.
 */
export const ERROR_CODES = [
  'validation_failed',
  'unknown_job_type',
  'unauthorized',
  'forbidden',
  'not_found',
  'request_timeout',
  'conflict',
  'payload_too_large',
  'unsupported_media_type',
  'range_not_satisfiable',
  'idempotency_conflict',
  'too_many_requests',
  'too_many_streams',
  'rate_limited',
  'quota_exceeded',
  'internal',
  'database_unavailable',
  'insufficient_storage',
] as const;

export type ErrorCode = (typeof ERROR_CODES)[number];
