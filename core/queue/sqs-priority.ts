/**
 * Priorities on SQS (a standard queue keeps no order): jobs with a priority above 0 go to a
 * second queue, JOBS_SQS_PRIORITY_QUEUE_URL, with an event source mapping of its own (stacks/), so
 * they never wait behind the main queue's backlog; `jobs worker` looks at it before each receive
 * from the main queue. The outbox relay picks the queue from the job row's priority when it sends.
 *
 * A receipt handle is only good with the queue it came from, so receipts of the priority queue
 * carry PRIORITY_RECEIPT_PREFIX within jobs (the SQS queue strips it and picks the queue).
 */
export const PRIORITY_RECEIPT_PREFIX = 'priority-queue:';

/** Jobs of this priority and above go to the priority queue. */
export const SQS_PRIORITY_THRESHOLD = 1;

/** The queue URL and SQS receipt handle a jobs receipt stands for. */
export function routeReceipt(
  receipt: string,
  mainUrl: string,
  priorityUrl: string | undefined,
): { queueUrl: string; receiptHandle: string } {
  if (priorityUrl && receipt.startsWith(PRIORITY_RECEIPT_PREFIX))
    return { queueUrl: priorityUrl, receiptHandle: receipt.slice(PRIORITY_RECEIPT_PREFIX.length) };
  return { queueUrl: mainUrl, receiptHandle: receipt };
}

/** The name of the queue a URL (https://sqs.…/ACCOUNT/NAME) or an ARN (arn:aws:sqs:…:NAME) names. */
function queueName(urlOrArn: string): string {
  return urlOrArn.split(/[/:]/).at(-1) ?? '';
}

/**
 * The jobs receipt of a Lambda SQS record: marked when the record came from the priority queue
 * (its event source ARN names that queue).
 */
export function receiptOfRecord(
  record: { receiptHandle: string; eventSourceARN?: string },
  priorityUrl: string | undefined,
): string {
  const fromPriority =
    priorityUrl !== undefined &&
    record.eventSourceARN !== undefined &&
    queueName(record.eventSourceARN) === queueName(priorityUrl);
  return fromPriority ? PRIORITY_RECEIPT_PREFIX + record.receiptHandle : record.receiptHandle;
}
