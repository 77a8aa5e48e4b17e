import { createHash } from 'node:crypto';
import fs from 'node:fs/promises';
import {
  GetFunctionConfigurationCommand,
  LambdaClient,
  UpdateFunctionCodeCommand,
} from '@aws-sdk/client-lambda';
import { CliError } from './errors.js';

export interface PublishResult {
  functionName: string;
  /** Base64 SHA-256 of the code, as Lambda reports it (and as computed locally). */
  codeSha256: string;
  codeSize: number;
  lastModified?: string;
}

/**
 * `jobs deploy --processor-only`: uploads the processor zip to an existing function with
 * UpdateFunctionCode, checks that Lambda stored exactly these bytes (its CodeSha256), and waits
 * until the update is live (LastUpdateStatus leaves InProgress).
 */
export async function publishProcessor(opts: {
  lambda: LambdaClient;
  functionName: string;
  zipPath: string;
  /** How long to wait for the update to finish (default 120 s) and how often to look. */
  waitMs?: number;
  pollMs?: number;
}): Promise<PublishResult> {
  const { lambda, functionName } = opts;
  // UpdateFunctionCode takes the zip inline (up to 50 MB); the bundle is about 1 MB, so reading
  // it whole is the API's shape, not a shortcut.
  const zip = await fs.readFile(opts.zipPath);
  const sha256 = createHash('sha256').update(zip).digest('base64');
  let updated;
  try {
    updated = await lambda.send(new UpdateFunctionCodeCommand({ FunctionName: functionName, ZipFile: zip }));
  } catch (err) {
    throw new CliError(
      `cannot update the code of ${functionName}: ${awsReason(err)}`,
      'lambda_update_failed',
      {
        cause: err,
      },
    );
  }
  if (updated.CodeSha256 !== sha256) {
    throw new CliError(
      `Lambda stored code with SHA-256 ${updated.CodeSha256 ?? 'unknown'}, but ${opts.zipPath} has ${sha256}`,
      'lambda_update_failed',
    );
  }
  const deadline = Date.now() + (opts.waitMs ?? 120_000);
  let status = updated.LastUpdateStatus;
  let reason = updated.LastUpdateStatusReason;
  let lastModified = updated.LastModified;
  while (status === 'InProgress' || status === undefined) {
    if (Date.now() > deadline) {
      throw new CliError(
        `the update of ${functionName} is still in progress; check it with \`jobs doctor\``,
        'lambda_update_timeout',
      );
    }
    await new Promise((r) => setTimeout(r, opts.pollMs ?? 1_000));
    const cfg = await lambda.send(new GetFunctionConfigurationCommand({ FunctionName: functionName }));
    status = cfg.LastUpdateStatus;
    reason = cfg.LastUpdateStatusReason;
    lastModified = cfg.LastModified ?? lastModified;
  }
  if (status !== 'Successful') {
    throw new CliError(`the update of ${functionName} failed: ${reason ?? status}`, 'lambda_update_failed');
  }
  return { functionName, codeSha256: sha256, codeSize: zip.length, lastModified };
}

/** An AWS SDK error as "Name: message" (ResourceNotFoundException: Function not found: …). */
export function awsReason(err: unknown): string {
  const e = err as { name?: string; message?: string; code?: string; cause?: unknown };
  const message = e?.message ?? String(err);
  // The S3 client wraps network errors ("AWS SDK error wrapper for Error: connect …").
  if (message.startsWith('AWS SDK error wrapper for ')) {
    return e.cause ? awsReason(e.cause) : message.replace(/^AWS SDK error wrapper for (\w*Error: )?/, '');
  }
  // Network errors: "connect ECONNREFUSED 127.0.0.1:9" already names its code.
  if (e?.code && message.includes(e.code)) return message;
  const name = e?.name && e.name !== 'Error' ? `${e.name}: ` : '';
  return `${name}${message}`;
}
