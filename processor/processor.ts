import type { SQSBatchResponse, SQSEvent, SQSRecord } from 'aws-lambda';
import { runJob, type Delivery, type RunnerDeps } from './run-job.js';

/** The message body: the job id only; the job row is the truth. */
export interface JobMessage {
  jobId: string;
}

export function encodeMessage(jobId: string): string {
  return JSON.stringify({ jobId } satisfies JobMessage);
}

export type ProcessBatch = (event: SQSEvent, stop?: AbortSignal) => Promise<SQSBatchResponse>;

/**
 * What is left to do with a delivery once it has been processed: `delete` it (acknowledge),
 * nothing (`acked`: acknowledged with the job's outcome, or moved to the dead letters), or
 * `retry` (leave it to be delivered again).
 */
export type DeliveryEnd = 'delete' | 'acked' | 'retry';

export type ProcessDelivery = (delivery: Delivery, stop?: AbortSignal) => Promise<DeliveryEnd>;

export interface ProcessorDeps extends RunnerDeps {
  /**
   * The queue's receipt of a Lambda record (default: its receiptHandle): SQS with a priority queue
   * marks that queue's receipts, which are only good with it (core/queue/sqs-priority.ts).
   */
  receiptOf?(record: SQSRecord): string;
  /** Moves a delivery to the dead letters; resolves false when it could not. */
  deadLetter?(receiptHandle: string, jobId: string): Promise<boolean>;
}

/**
 * The processor: one delivery in, what to do with its message out. Lambda feeds it SQS batches
 * (`batch`); the embedded worker and `jobs worker` feed it the deliveries they receive
 * (`delivery`), so every mode runs this one code path.
 */
export interface Processor {
  delivery: ProcessDelivery;
  /** Lambda-shaped: an SQS batch in, partial batch failures out; records run concurrently. */
  batch: ProcessBatch;
}

export function createProcessor(deps: ProcessorDeps): Processor {
  const delivery: ProcessDelivery = async (d, stop) => {
    const outcome = await runJob(deps, d, stop);
    if (outcome === 'dead-letter') {
      // Without a way to dead-letter it here, the message is left for the queue's redrive
      // policy, which moves it once its receive count runs out.
      const moved = d.receiptHandle !== undefined && (await deps.deadLetter?.(d.receiptHandle, d.jobId));
      return moved ? 'acked' : 'retry';
    }
    return outcome === 'done' ? 'delete' : outcome;
  };

  const batch: ProcessBatch = async (event, stop) => {
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
          const receiptHandle = deps.receiptOf ? deps.receiptOf(record) : record.receiptHandle;
          const d = { jobId, messageId: record.messageId, receiptHandle, receiveCount };
          if ((await delivery(d, stop)) === 'retry') failures.push({ itemIdentifier: record.messageId });
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

  return { delivery, batch };
}

function parseBody(record: SQSRecord): string | undefined {
  try {
    const body = JSON.parse(record.body) as Partial<JobMessage>;
    return typeof body.jobId === 'string' && /^[0-9a-f-]{36}$/i.test(body.jobId) ? body.jobId : undefined;
  } catch {
    return undefined;
  }
}
