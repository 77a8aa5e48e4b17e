import { awsJsonCall, AwsServiceError, credentialsOf, endpointOf } from './aws-json-call.js';

/**
 * SQS's ChangeMessageVisibility as one signed request (core/aws/aws-json-call.ts), with the
 * credentials in the environment: the processor Lambda extends every delivery's visibility before
 * it claims the job, so without this each cold start would load the SQS client for that call.
 * Resolves false when this path does not apply (no credentials in the environment, no region
 * known, FIPS or dual-stack endpoints): the caller uses the SDK. A stale receipt (the message was
 * received again, or is gone) is not an error, as for SqsQueue.changeVisibility.
 *
 * @example
 *   await changeMessageVisibility({ queueUrl, receiptHandle, seconds: 960, region: 'eu-west-1' });
 */
export async function changeMessageVisibility(opts: {
  queueUrl: string;
  receiptHandle: string;
  seconds: number;
  region?: string;
  /** A configured endpoint (JOBS_SQS_ENDPOINT); else, as the SDK does, the queue URL's host. */
  endpoint?: string;
  env?: NodeJS.ProcessEnv;
  now?: Date;
}): Promise<boolean> {
  const env = opts.env ?? process.env;
  const credentials = credentialsOf(env);
  const url = new URL(opts.queueUrl);
  const region = opts.region ?? env.AWS_REGION ?? /^sqs\.([a-z0-9-]+)\./.exec(url.hostname)?.[1];
  if (!credentials || !region) return false;
  // A configured endpoint (JOBS_SQS_ENDPOINT, AWS_ENDPOINT_URL_SQS…), else the queue URL's host.
  let endpoint = endpointOf({ prefix: 'sqs', envName: 'SQS' }, region, '', env, opts.endpoint);
  if (!endpoint) {
    if (env.AWS_USE_FIPS_ENDPOINT === 'true' || env.AWS_USE_DUALSTACK_ENDPOINT === 'true') return false;
    endpoint = new URL('/', url);
  }
  try {
    await awsJsonCall(
      {
        service: 'sqs',
        target: 'AmazonSQS.ChangeMessageVisibility',
        contentType: 'application/x-amz-json-1.0',
        region,
        endpoint,
        body: { QueueUrl: opts.queueUrl, ReceiptHandle: opts.receiptHandle, VisibilityTimeout: opts.seconds },
      },
      credentials,
      opts.now,
    );
  } catch (err) {
    if (!isStaleReceipt(err)) throw err;
  }
  return true;
}

/** As core/queue/sqs-queue.ts tells a stale receipt from a failure. */
function isStaleReceipt(err: unknown): boolean {
  if (!(err instanceof AwsServiceError)) return false;
  if (err.name === 'ReceiptHandleIsInvalid' || err.name === 'MessageNotInflight') return true;
  // SQS's classic codes (x-amzn-query-error) for the same.
  if (/ReceiptHandleIsInvalid|MessageNotInflight/.test(err.name)) return true;
  return err.name === 'InvalidParameterValue' && /receipt ?handle/i.test(err.message);
}
