import type { SQSBatchResponse, SQSEvent, SQSRecord } from 'aws-lambda';
import { runJob, type RunnerDeps } from './run-job.js';

/** The message body: the job id only; the job row is the truth. */
export interface JobMessage {
  jobId: string;
}

export function encodeMessage(jobId: string): string {
  return JSON.stringify({ jobId } satisfies JobMessage);
}

export type ProcessBatch = (event: SQSEvent, stop?: AbortSignal) => Promise<SQSBatchResponse>;

/**
 * The processor, Lambda-shaped: an SQS batch in, partial batch failures out. Records run
 * concurrently; one failing record never fails the others. The embedded worker and `jobs worker`
 * feed it the same events, so every mode runs this one code path.
 */
export interface ProcessorDeps extends RunnerDeps {
  /** Moves a delivery to the dead letters; resolves false when it could not. */
  deadLetter?(receiptHandle: string, jobId: string): Promise<boolean>;
}

export function createProcessor(deps: ProcessorDeps): ProcessBatch {
  return async (event, stop) => {
    const failures: SQSBatchResponse['batchItemFailures'] = [];
    await Promise.all(
      event.Records.map(async (record) => {
        try {
          const jobId = parseBody(record);
          if (!jobId) {
            deps.logger.error({ messageId: record.messageId }, 'malformed job message; dropped');
            return;
          }
          const receiveCount = Number(record.attributes?.ApproximateReceiveCount ?? 1);
          const delivery = {
            jobId,
            messageId: record.messageId,
            receiptHandle: record.receiptHandle,
            receiveCount,
          };
          const outcome = await runJob(deps, delivery, stop);
          // Without a way to dead-letter it here, the message is left for the queue's redrive
          // policy, which moves it once its receive count runs out.
          const moved = outcome === 'dead-letter' && (await deps.deadLetter?.(record.receiptHandle, jobId));
          if (outcome === 'retry' || (outcome === 'dead-letter' && !moved)) {
            failures.push({ itemIdentifier: record.messageId });
          }
        } catch (err) {
          // Infrastructure trouble (database down, blob store unreachable): let the queue
          // deliver the message again rather than lose the job.
          deps.logger.error(
            { err, messageId: record.messageId },
            'processing failed; message will be retried',
          );
          failures.push({ itemIdentifier: record.messageId });
        }
      }),
    );
    return { batchItemFailures: failures };
  };
}

function parseBody(record: SQSRecord): string | undefined {
  try {
    const body = JSON.parse(record.body) as Partial<JobMessage>;
    return typeof body.jobId === 'string' && /^[0-9a-f-]{36}$/i.test(body.jobId) ? body.jobId : undefined;
  } catch {
    return undefined;
  }
}
