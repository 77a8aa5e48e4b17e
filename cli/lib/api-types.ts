/**
 * The REST API's shapes as the CLI sees them (JSON: dates are ISO strings), inferred from the
 * server's own response schemas (server/schemas.ts), the ones its OpenAPI document is generated
 * from and its tests parse real answers with: a field renamed or retyped on the server is a type
 * error here. Type-only imports: erased at build, so the CLI loads nothing of the server (nor its
 * zod schemas) at run time.
 */
import type { z } from 'zod';
import type * as api from '../../server/schemas.js';
import { TERMINAL_STATUSES, type JobStatus } from '../../core/jobs/job-dto.js';

export { TERMINAL_STATUSES };
export type { JobStatus };

export type Job = z.output<typeof api.jobResponse>;
export type JobPage = z.output<typeof api.jobPageResponse>;
export type LogLine = z.output<typeof api.logLineResponse>;
export type LogPage = z.output<typeof api.logPageResponse>;
export type Me = z.output<typeof api.meResponse>;
export type CreatedToken = z.output<typeof api.createdTokenResponse>;
export type TokenSummary = z.output<typeof api.tokenResponse>;
export type TokenList = z.output<typeof api.tokenListResponse>;
export type Schedule = z.output<typeof api.scheduleResponse>;
export type ScheduleList = z.output<typeof api.scheduleListResponse>;
export type DeadLetterList = z.output<typeof api.deadLetterListResponse>;
export type RedriveResult = z.output<typeof api.redriveResponse>;
export type PruneResult = z.output<typeof api.pruneResponse>;
export type WebhookSecret = z.output<typeof api.webhookSecretResponse>;
export type WebhookDelivery = z.output<typeof api.webhookDeliveryListResponse>['items'][number];
export type BatchAnswer = z.output<typeof api.jobsBatchResponse>;
/** One job's result in a POST /api/jobs/batch answer (in the order sent). */
export type BatchJobResult = BatchAnswer['results'][number];

/** A job type; its `params` is a JSON Schema (the server's `z.toJSONSchema` of the type's params). */
export type JobType = Omit<z.output<typeof api.jobTypeResponse>, 'params'> & { params: JsonSchema };

/**
 * The body of every error response. `code` is widened to a string: a newer server may answer a
 * code this CLI does not know, and the CLI names answers that are not the API's JSON `http_<status>`.
 */
export interface ApiErrorBody {
  error: Omit<z.output<typeof api.errorResponse>['error'], 'code'> & { code: string };
}

export function isTerminal(status: JobStatus): boolean {
  return TERMINAL_STATUSES.includes(status);
}

export interface JsonSchema {
  type?: string | string[];
  properties?: Record<string, JsonSchema>;
  required?: string[];
  default?: unknown;
  enum?: unknown[];
  const?: unknown;
  items?: JsonSchema;
  anyOf?: JsonSchema[];
  oneOf?: JsonSchema[];
  additionalProperties?: boolean | JsonSchema;
  [key: string]: unknown;
}
