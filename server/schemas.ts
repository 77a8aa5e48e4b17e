import { z } from 'zod';
import { JOB_STATUSES } from '../core/jobs/job-dto.js';
import { PERMISSIONS } from '../core/auth/principal.js';

/** Request shapes the routes validate with (and, later, the OpenAPI document is built from). */

const boolString = z.enum(['true', 'false', '1', '0']).transform((v) => v === 'true' || v === '1');

export const listJobsQuery = z.object({
  status: z.enum(JOB_STATUSES as [string, ...string[]]).optional(),
  type: z.string().min(1).max(100).optional(),
  limit: z.coerce.number().int().min(1).max(100).default(20),
  cursor: z.string().min(1).max(200).optional(),
  all: boolString.optional(),
});

export const logsQuery = z.object({
  after: z.coerce.number().int().min(0).default(0),
  limit: z.coerce.number().int().min(1).max(5000).default(1000),
});

/** Bounds of a job's maxAttempts override. */
export const MAX_ATTEMPTS_LIMIT = 20;
const maxAttemptsMessage = `maxAttempts must be a whole number from 1 to ${MAX_ATTEMPTS_LIMIT}`;
export const maxAttemptsSchema = z
  .number({ error: maxAttemptsMessage })
  .int(maxAttemptsMessage)
  .min(1, maxAttemptsMessage)
  .max(MAX_ATTEMPTS_LIMIT, maxAttemptsMessage);
/** The multipart form field: digits only (no "1e1", no " 3"), then the same bounds. */
export const maxAttemptsField = z
  .string()
  .regex(/^\d{1,3}$/, maxAttemptsMessage)
  .transform(Number)
  .pipe(maxAttemptsSchema);

export const createJobBody = z.object({
  type: z.string({ error: 'type is required' }).min(1, 'type is required').max(100),
  params: z.record(z.string(), z.unknown(), { error: 'params must be a JSON object' }).optional(),
  /** A completed direct upload (POST /api/uploads) to use as the job's input. */
  uploadId: z.string().uuid('uploadId must be a uuid').optional(),
  /** Overrides the job type's maxAttempts for this job. */
  maxAttempts: maxAttemptsSchema.optional(),
});

export const beginUploadBody = z.object({
  fileName: z.string({ error: 'fileName is required' }).min(1, 'fileName is required'),
  size: z
    .number({ error: 'size is required (bytes)' })
    .int('size must be a whole number of bytes')
    .positive('size must be positive (the file is empty)')
    .max(Number.MAX_SAFE_INTEGER),
  sha256: z
    .string({ error: 'sha256 is required' })
    .regex(/^[0-9a-fA-F]{64}$/, 'sha256 must be 64 hex digits')
    .transform((v) => v.toLowerCase()),
});

export const completeUploadBody = z.object({
  parts: z
    .array(
      z.object({
        partNumber: z.number().int().min(1).max(10_000),
        etag: z.string().min(1).max(200),
      }),
    )
    .min(1, 'parts must list every part')
    .max(10_000),
});

export const uploadPartQuery = z.object({
  expires: z.string().regex(/^\d+$/, 'expires is required'),
  signature: z.string().regex(/^[0-9a-f]{64}$/, 'signature is required'),
});

export const dlqListQuery = z.object({
  limit: z.coerce.number().int().min(1).max(1000).default(100),
});

export const dlqRedriveBody = z.object({
  ids: z.array(z.string().uuid('ids must be job ids (uuids)')).min(1).max(1000).optional(),
});

export const idempotencyKeyHeader = z.string().min(1).max(200);

export const createTokenBody = z.object({
  user: z.string({ error: 'user is required' }).min(1).max(100),
  admin: z.boolean().optional(),
  name: z.string().min(1).max(100).optional(),
  permissions: z.array(z.enum(PERMISSIONS)).min(1).optional(),
});
