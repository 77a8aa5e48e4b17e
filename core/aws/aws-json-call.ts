import { createHash, createHmac } from 'node:crypto';

/**
 * One call of an AWS JSON-protocol API (Secrets Manager, SQS) as a single HTTPS request signed
 * here with Signature Version 4, from the credentials in the environment: what Lambda gives a
 * function (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN). The processor Lambda
 * makes two such calls at every cold start (its database secret, the delivery's visibility);
 * loading the SDK's clients for them cost about a third of the cold start (BENCHMARKS.md
 * `## lambda`). Everything else, and every host without credentials in its environment, uses the
 * SDK (its provider chain: instance roles, SSO profiles…).
 */
export interface AwsJsonCall {
  /** The signing name and endpoint prefix: `secretsmanager`, `sqs`. */
  service: string;
  /** The X-Amz-Target header: `secretsmanager.GetSecretValue`, `AmazonSQS.ChangeMessageVisibility`. */
  target: string;
  /** `application/x-amz-json-1.1` (Secrets Manager) or `-1.0` (SQS). */
  contentType: string;
  region: string;
  endpoint: URL;
  body: unknown;
}

export interface Credentials {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken?: string;
}

/** An error the service answered, named as the SDK names it (ResourceNotFoundException…). */
export class AwsServiceError extends Error {
  constructor(
    name: string,
    message: string,
    /** The HTTP status it came with. */
    readonly status: number,
  ) {
    super(message);
    this.name = name;
  }
}

/** The credentials in the environment, or undefined (then the SDK's provider chain applies). */
export function credentialsOf(env: NodeJS.ProcessEnv): Credentials | undefined {
  const accessKeyId = env.AWS_ACCESS_KEY_ID;
  const secretAccessKey = env.AWS_SECRET_ACCESS_KEY;
  if (!accessKeyId || !secretAccessKey) return undefined;
  return { accessKeyId, secretAccessKey, sessionToken: env.AWS_SESSION_TOKEN || undefined };
}

/** DNS suffixes of the partitions whose endpoints are `<service>.<region>.<suffix>`. */
const PARTITION_SUFFIX: Record<string, string> = {
  aws: 'amazonaws.com',
  'aws-us-gov': 'amazonaws.com',
  'aws-cn': 'amazonaws.com.cn',
};

/**
 * The endpoint the SDK would use: `custom` (an endpoint given in configuration or by
 * AWS_ENDPOINT_URL_<envName> / AWS_ENDPOINT_URL, envName as the SDK derives it from the service's
 * name: SECRETS_MANAGER, SQS) as is, else the partition's regional one.
 * Undefined where this module does not know it (FIPS or dual-stack asked for, another partition).
 */
export function endpointOf(
  service: { prefix: string; envName: string },
  region: string,
  partition: string,
  env: NodeJS.ProcessEnv,
  custom?: string,
): URL | undefined {
  const configured = custom || env[`AWS_ENDPOINT_URL_${service.envName}`] || env.AWS_ENDPOINT_URL;
  if (configured) return new URL(configured);
  if (env.AWS_USE_FIPS_ENDPOINT === 'true' || env.AWS_USE_DUALSTACK_ENDPOINT === 'true') return undefined;
  const suffix = PARTITION_SUFFIX[partition];
  return suffix ? new URL(`https://${service.prefix}.${region}.${suffix}/`) : undefined;
}

/** Attempts of one call, as the SDK's standard retry mode makes them. */
const MAX_ATTEMPTS = 3;

/**
 * Makes the call; resolves the answer's JSON, or rejects with AwsServiceError. Like the SDK, it
 * tries again (up to 3 attempts, 100–400 ms apart, jittered) after a network error, a 5xx or a
 * throttling answer; each attempt is signed anew.
 */
export async function awsJsonCall(
  call: AwsJsonCall,
  credentials: Credentials,
  now?: Date,
): Promise<Record<string, unknown>> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await attemptCall(call, credentials, now ?? new Date());
    } catch (err) {
      if (attempt >= MAX_ATTEMPTS || !retryable(err)) throw err;
      await new Promise((resolve) => setTimeout(resolve, 100 * 2 ** (attempt - 1) * (0.5 + Math.random())));
    }
  }
}

const THROTTLING = /Throttl|TooManyRequests|RequestLimitExceeded|SlowDown/;

function retryable(err: unknown): boolean {
  if (err instanceof AwsServiceError) return err.status >= 500 || THROTTLING.test(err.name);
  return true; // the request did not get an answer (connection refused or reset, timeout)
}

async function attemptCall(
  call: AwsJsonCall,
  credentials: Credentials,
  now: Date,
): Promise<Record<string, unknown>> {
  const body = JSON.stringify(call.body);
  const headers = signedHeaders({ ...call, body, credentials, now });
  // Loaded here, for the endpoint's scheme only (https brings tls with it); getBuiltinModule
  // rather than import(), whose ES facade of http would load undici (scripts/lambda-plugins.mjs).
  const { request } = process.getBuiltinModule(
    call.endpoint.protocol === 'http:' ? 'node:http' : 'node:https',
  );
  const { status, text, queryError } = await post(request, call.endpoint, headers, body);
  let out: Record<string, unknown>;
  try {
    out = text ? (JSON.parse(text) as Record<string, unknown>) : {};
  } catch {
    throw new AwsServiceError('InvalidResponse', `HTTP ${status}: ${text.slice(0, 200)}`, status);
  }
  if (status === 200) return out;
  // `__type` is "ResourceNotFoundException" or "com.amazonaws.sqs#ReceiptHandleIsInvalid"; SQS
  // also names its classic error code in x-amzn-query-error ("AWS.SimpleQueueService.…;Sender").
  const type = String(out.__type ?? queryError?.split(';')[0] ?? `HTTP${status}`);
  const message = out.message ?? out.Message ?? `HTTP ${status}`;
  throw new AwsServiceError(type.split('#').at(-1)!, String(message), status);
}

const sha256 = (data: string) => createHash('sha256').update(data).digest('hex');
const hmac = (key: string | Buffer, data: string) => createHmac('sha256', key).update(data).digest();

/** The request's headers, Authorization included (SigV4; the headers the SDK signs for a JSON call). */
export function signedHeaders(opts: {
  service: string;
  target: string;
  contentType: string;
  endpoint: URL;
  region: string;
  body: string;
  credentials: Credentials;
  now: Date;
}): Record<string, string> {
  const { service, endpoint, region, body, credentials } = opts;
  const amzDate = opts.now
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d{3}/, ''); // 20261130T201500Z
  const day = amzDate.slice(0, 8);
  const payloadHash = sha256(body);
  const headers: Record<string, string> = {
    'content-type': opts.contentType,
    host: endpoint.host,
    'x-amz-content-sha256': payloadHash,
    'x-amz-date': amzDate,
    'x-amz-target': opts.target,
  };
  if (credentials.sessionToken) headers['x-amz-security-token'] = credentials.sessionToken;
  const names = Object.keys(headers).sort();
  const canonicalRequest = [
    'POST',
    endpoint.pathname || '/',
    '', // no query
    ...names.map((n) => `${n}:${headers[n]!.trim()}`),
    '',
    names.join(';'),
    payloadHash,
  ].join('\n');
  const scope = `${day}/${region}/${service}/aws4_request`;
  const stringToSign = ['AWS4-HMAC-SHA256', amzDate, scope, sha256(canonicalRequest)].join('\n');
  let key = hmac(`AWS4${credentials.secretAccessKey}`, day);
  for (const part of [region, service, 'aws4_request']) key = hmac(key, part);
  const signature = createHmac('sha256', key).update(stringToSign).digest('hex');
  headers.authorization =
    `AWS4-HMAC-SHA256 Credential=${credentials.accessKeyId}/${scope}, ` +
    `SignedHeaders=${names.join(';')}, Signature=${signature}`;
  return headers;
}

/** These APIs answer in milliseconds; a cold start that cannot reach one should fail, not hang. */
const TIMEOUT_MS = 10_000;

function post(
  request: typeof import('node:https').request,
  url: URL,
  headers: Record<string, string>,
  body: string,
): Promise<{ status: number; text: string; queryError?: string }> {
  return new Promise((resolve, reject) => {
    const req = request(
      url,
      {
        method: 'POST',
        headers: { ...headers, 'content-length': String(Buffer.byteLength(body)) },
        signal: AbortSignal.timeout(TIMEOUT_MS),
      },
      (res) => {
        // Whole, but bounded: the answers read here are small (a secret holds at most 64 KiB).
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () =>
          resolve({
            status: res.statusCode ?? 0,
            text: Buffer.concat(chunks).toString(),
            queryError: res.headers['x-amzn-query-error'] as string | undefined,
          }),
        );
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}
