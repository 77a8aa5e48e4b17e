import type { Prisma } from '../db/database.js';
import type { Job as JobRow } from '../db/generated/client.js';
import { IdempotencyConflictError } from '../errors.js';

/**
 * What a job-creating request asked for, as compared with the job that first used its
 * Idempotency-Key: the same key with the same request is a retry (200, the first job); with a
 * different one it is a mistake (422), never a silent "here is some other job".
 */
export interface IdempotentRequest {
  type: string;
  /** After the handler's defaults, as the job stores them. */
  params: unknown;
  /** An uploaded file (multipart): compared by name, size and SHA-256. */
  input?: { name: string; size: number; sha256: string };
  /** A direct upload: compared by identity (the upload's key is the first job's input key). */
  uploadId?: string;
  /** The effective value (the type's default when the request gave none). */
  maxAttempts: number;
  /** The job's own webhook URL as checked; compared only when the request named one (a default can change). */
  webhookUrl?: string;
}

/**
 * The fields (`type`, `params`, `input`, `maxAttempts`, `webhookUrl`) in which `request` differs from `first`;
 * `uploadKey` is the key of the request's upload, when it named one (undefined: no such upload).
 */
export function idempotencyDifferences(
  first: Pick<
    JobRow,
    'type' | 'params' | 'maxAttempts' | 'inputName' | 'inputSize' | 'inputSha256' | 'inputKey'
  > & { webhookUrl?: string | null },
  request: IdempotentRequest,
  uploadKey?: string,
): string[] {
  const fields: string[] = [];
  if (first.type !== request.type) fields.push('type');
  if (canonicalJson(first.params) !== canonicalJson(request.params ?? {})) fields.push('params');
  if (!sameInput(first, request, uploadKey)) fields.push('input');
  if (first.maxAttempts !== request.maxAttempts) fields.push('maxAttempts');
  if (request.webhookUrl !== undefined && (first.webhookUrl ?? null) !== request.webhookUrl)
    fields.push('webhookUrl');
  return fields;
}

/**
 * Throws IdempotencyConflictError (422) naming the differing fields unless `request` is the one
 * that created `first` under `key`.
 */
export async function assertSameRequest(
  prisma: Pick<Prisma, 'upload'>,
  key: string,
  first: JobRow,
  request: IdempotentRequest,
): Promise<void> {
  const upload = request.uploadId
    ? await prisma.upload.findFirst({
        where: { id: request.uploadId, ownerId: first.ownerId },
        select: { key: true },
      })
    : null;
  const fields = idempotencyDifferences(first, request, upload?.key);
  if (fields.length > 0) throw idempotencyConflict(key, first.id, fields);
}

/** The 422 of a key reused for a different request: names the differing fields and the first job. */
export function idempotencyConflict(
  key: string,
  firstJobId: string,
  fields: string[],
): IdempotencyConflictError {
  return new IdempotencyConflictError(
    `Idempotency-Key "${key}" was already used for a different request (${fields.join(', ')} differ); ` +
      `send a new key for a new job`,
    { jobId: firstJobId, fields },
  );
}

function sameInput(
  first: Pick<JobRow, 'inputName' | 'inputSize' | 'inputSha256' | 'inputKey'>,
  request: IdempotentRequest,
  uploadKey: string | undefined,
): boolean {
  if (request.uploadId !== undefined) return uploadKey !== undefined && uploadKey === first.inputKey;
  if (!request.input) return first.inputKey === null;
  return (
    first.inputName === request.input.name &&
    first.inputSize !== null &&
    Number(first.inputSize) === request.input.size &&
    first.inputSha256 === request.input.sha256
  );
}

/** JSON with object keys sorted: jsonb does not keep the order a client sent. */
function canonicalJson(value: unknown): string {
  return JSON.stringify(value, (_k, v: unknown) =>
    v && typeof v === 'object' && !Array.isArray(v)
      ? Object.fromEntries(
          Object.entries(v as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)),
        )
      : v,
  );
}
