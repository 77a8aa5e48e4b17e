import type { Job as JobRow, JobLog as JobLogRow } from '../db/generated/client.js';
import { capError, capJson, capResult, MAX_LOG_DATA_BYTES } from './limits.js';
import { listedOutputs, type JobOutput } from './outputs.js';

export type JobStatus = 'PENDING' | 'RUNNING' | 'COMPLETED' | 'FAILED' | 'CANCELLED';
export const JOB_STATUSES: readonly JobStatus[] = ['PENDING', 'RUNNING', 'COMPLETED', 'FAILED', 'CANCELLED'];
export const TERMINAL_STATUSES: readonly JobStatus[] = ['COMPLETED', 'FAILED', 'CANCELLED'];

/** A job as the API, the CLI's --json and the dashboard see it (the contract's shape). */
export interface JobDto {
  id: string;
  type: string;
  status: JobStatus;
  params: unknown;
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
  /** Cancelling was asked for (a RUNNING job keeps running until its processor stops it). */
  cancelRequestedAt: string | null;
  /** The schedule whose tick created this job (null: submitted directly). */
  scheduleId: string | null;
  /** The tick of `scheduleId` this job is for (a late or caught-up job still names its tick). */
  scheduleTickAt: string | null;
  /** A delayed job starts no sooner than this (`delay` / `runAt` at submit); null: at once. */
  runAt: string | null;
  /** Where the job's end is POSTed (core/webhooks/); null: no webhook. */
  webhookUrl: string | null;
  /** Files the handler wrote, complete ones only (core/jobs/outputs.ts). */
  outputs: JobOutput[];
  /** Higher first (-100..100; default 0): the order among the owner's waiting jobs. */
  priority: number;
}

export interface JobLogDto {
  seq: number;
  ts: string;
  level: string;
  message: string;
  data: unknown;
}

export function toJobDto(j: JobRow): JobDto {
  return {
    id: j.id,
    type: j.type,
    status: j.status,
    params: j.params,
    input:
      j.inputName !== null && j.inputSize !== null && j.inputSha256 !== null
        ? { name: j.inputName, size: Number(j.inputSize), sha256: j.inputSha256 }
        : null,
    progress:
      j.progressDone !== null
        ? { done: Number(j.progressDone), total: j.progressTotal === null ? null : Number(j.progressTotal) }
        : null,
    // Bounded when written; bounded again here for rows written before that (or by an older
    // processor during a deploy), so a list page never carries a 30 MB field.
    result: capResult(j.result),
    error: j.error === null ? null : capError(j.error),
    attempts: j.attempts,
    maxAttempts: j.maxAttempts,
    ownerId: j.ownerId,
    createdAt: j.createdAt.toISOString(),
    startedAt: j.startedAt?.toISOString() ?? null,
    finishedAt: j.finishedAt?.toISOString() ?? null,
    updatedAt: j.updatedAt.toISOString(),
    cancelRequestedAt: j.cancelRequestedAt?.toISOString() ?? null,
    // `?? null`: rows some queries select column by column may leave it out.
    scheduleId: j.scheduleId ?? null,
    scheduleTickAt: j.scheduleTickAt?.toISOString() ?? null,
    runAt: j.runAt?.toISOString() ?? null,
    webhookUrl: j.webhookUrl ?? null,
    outputs: listedOutputs(j.outputs),
    // `?? 0`: rows some queries select column by column may leave it out.
    priority: j.priority ?? 0,
  };
}

export function toJobLogDto(l: JobLogRow): JobLogDto {
  const data = l.data === null ? null : JSON.parse(capJson(l.data, MAX_LOG_DATA_BYTES) ?? 'null');
  return { seq: l.seq, ts: l.ts.toISOString(), level: l.level, message: l.message, data };
}
