/** The REST API's shapes as the CLI sees them (JSON: dates are ISO strings). */

export type JobStatus = 'PENDING' | 'RUNNING' | 'COMPLETED' | 'FAILED' | 'CANCELLED';

export const TERMINAL_STATUSES: readonly JobStatus[] = ['COMPLETED', 'FAILED', 'CANCELLED'];

export function isTerminal(status: JobStatus): boolean {
  return TERMINAL_STATUSES.includes(status);
}

export interface Job {
  id: string;
  type: string;
  status: JobStatus;
  params: Record<string, unknown> | null;
  input: { name: string; size: number; sha256: string } | null;
  progress: { done: number; total: number | null } | null;
  result: unknown;
  error: string | null;
  attempts: number;
  maxAttempts: number;
  ownerId: string;
  createdAt: string;
  startedAt: string | null;
  finishedAt: string | null;
  updatedAt: string;
}

export interface JobPage {
  items: Job[];
  nextCursor: string | null;
}

export interface LogLine {
  seq: number;
  ts: string;
  level: string;
  message: string;
  data?: unknown;
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
  revokedAt: string | null;
}

/** The body of every error response. */
export interface ApiErrorBody {
  error: { code: string; message: string; details?: unknown };
}
