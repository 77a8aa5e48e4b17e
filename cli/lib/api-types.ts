/** The REST API's shapes as the CLI sees them (JSON: dates are ISO strings). */

// The job and log shapes are the server's own (core/jobs/job-dto.ts): one definition for both
// sides of the API (job-dto.ts has no runtime imports, so the CLI loads nothing of the server).
import { TERMINAL_STATUSES, type JobDto, type JobLogDto, type JobStatus } from '../../core/jobs/job-dto.js';

// Type-only: erased at build, so the CLI loads nothing of the server.
export type { DeadLetterList, RedriveResult } from '../../core/jobs/dlq-service.js';
export type { ScheduleDto as Schedule } from '../../core/schedules/schedule-dto.js';
export type {
  WebhookDeliveryDto as WebhookDelivery,
  WebhookSecretDto as WebhookSecret,
} from '../../core/webhooks/webhooks-service.js';

/** `POST /api/prune`'s answer (server/schemas.ts pruneResponse; dates as ISO strings). */
export interface PruneResult {
  dryRun: boolean;
  cutoff: string;
  jobs: number;
  inputs: number;
  outputs: number;
  oldest: string | null;
}

export { TERMINAL_STATUSES };
export type { JobStatus };
export type Job = JobDto;
export type LogLine = JobLogDto;

export function isTerminal(status: JobStatus): boolean {
  return TERMINAL_STATUSES.includes(status);
}

export interface JobPage {
  items: Job[];
  nextCursor: string | null;
}

export interface LogPage {
  items: LogLine[];
  nextAfter: number | null;
}

export interface JobType {
  type: string;
  description: string;
  input: 'required' | 'optional' | 'none';
  params: JsonSchema;
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

export interface Me {
  userId: string;
  name: string;
  role: string;
  permissions: string[];
}

export interface CreatedToken {
  id: string;
  token: string;
  userId: string;
  role: string;
  name: string | null;
  permissions: string[];
  createdAt: string;
  expiresAt?: string | null;
}

export interface TokenSummary {
  id: string;
  name: string | null;
  userId: string;
  userName: string;
  role: string;
  permissions: string[];
  createdAt: string;
  lastUsedAt: string | null;
  /** Absent from servers older than token expiry. */
  expiresAt?: string | null;
  revokedAt: string | null;
}

/** One job's result in a POST /api/jobs/batch answer (in the order sent). */
export type BatchJobResult =
  | { status: 201 | 200; job: Job }
  | { status: number; error: { code: string; message: string; details?: unknown } };

export interface BatchAnswer {
  created: number;
  existing: number;
  failed: number;
  results: BatchJobResult[];
}

/** The body of every error response. */
export interface ApiErrorBody {
  error: { code: string; message: string; details?: unknown };
}
