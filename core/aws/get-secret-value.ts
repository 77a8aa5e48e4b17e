import { createHash, createHmac } from 'node:crypto';
import http from 'node:http';
import https from 'node:https';

/**
 * Secrets Manager's GetSecretValue as one HTTPS request signed here (AWS Signature Version 4)
 * with the credentials in the environment: what Lambda gives a function (AWS_ACCESS_KEY_ID,
 * AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN). The processor Lambda reads its database password
 * this way at every cold start; loading the SDK client for that one call cost more than the rest
 * of the cold start's own code (BENCHMARKS.md `## lambda`).
 *
 * Resolves undefined when this path does not apply, and the caller uses the SDK client: no
 * credentials in the environment (an instance or SSO profile: the SDK's provider chain), FIPS or
 * dual-stack endpoints asked for, or a partition whose endpoint is not known here. Like the SDK,
 * an endpoint given by AWS_ENDPOINT_URL_SECRETS_MANAGER (or AWS_ENDPOINT_URL) is used as is.
 *
 * @example
 *   const got = await getSecretValue(arn, 'eu-west-1'); // { secretString } or undefined
 */
export async function getSecretValue(
  secretId: string,
  region: string,
  env: NodeJS.ProcessEnv = process.env,
  now: Date = new Date(),
): Promise<{ secretString?: string } | undefined> {
  const endpoint = endpointOf(secretId, region, env);
  const credentials = credentialsOf(env);
  if (!endpoint || !credentials) return undefined;
  const body = JSON.stringify({ SecretId: secretId });
  const headers = signedHeaders({ endpoint, region, body, credentials, now });
  const { status, text } = await post(endpoint, headers, body);
  let out: { SecretString?: string; __type?: string; message?: string; Message?: string };
  try {
    out = JSON.parse(text) as typeof out;
  } catch {
    throw new SecretsManagerError('InvalidResponse', `HTTP ${status}: ${text.slice(0, 200)}`);
  }
  if (status !== 200) {
    // `__type` is "ResourceNotFoundException" or "namespace#ResourceNotFoundException".
    const type = (out.__type ?? `HTTP${status}`).split('#').at(-1)!;
    throw new SecretsManagerError(type, out.message ?? out.Message ?? `HTTP ${status}`);
  }
  return { secretString: out.SecretString };
}

/** An error Secrets Manager answered, named as the SDK names it (ResourceNotFoundException…). */
export class SecretsManagerError extends Error {
  constructor(name: string, message: string) {
    super(message);
    this.name = name;
  }
}

interface Credentials {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken?: string;
}

function credentialsOf(env: NodeJS.ProcessEnv): Credentials | undefined {
  const accessKeyId = env.AWS_ACCESS_KEY_ID;
  const secretAccessKey = env.AWS_SECRET_ACCESS_KEY;
  if (!accessKeyId || !secretAccessKey) return undefined;
  return { accessKeyId, secretAccessKey, sessionToken: env.AWS_SESSION_TOKEN || undefined };
}

/** DNS suffixes of the partitions whose Secrets Manager is `secretsmanager.<region>.<suffix>`. */
const PARTITION_SUFFIX: Record<string, string> = {
  aws: 'amazonaws.com',
  'aws-us-gov': 'amazonaws.com',
  'aws-cn': 'amazonaws.com.cn',
};

function endpointOf(secretId: string, region: string, env: NodeJS.ProcessEnv): URL | undefined {
  const custom = env.AWS_ENDPOINT_URL_SECRETS_MANAGER || env.AWS_ENDPOINT_URL;
  if (custom) return new URL(custom);
  if (env.AWS_USE_FIPS_ENDPOINT === 'true' || env.AWS_USE_DUALSTACK_ENDPOINT === 'true') return undefined;
  // The ARN names its partition (a bare secret name is left to the SDK).
  const suffix = secretId.startsWith('arn:') ? PARTITION_SUFFIX[secretId.split(':')[1]!] : undefined;
  return suffix ? new URL(`https://secretsmanager.${region}.${suffix}/`) : undefined;
}

const sha256 = (data: string) => createHash('sha256').update(data).digest('hex');
const hmac = (key: string | Buffer, data: string) => createHmac('sha256', key).update(data).digest();

/** The request's headers, Authorization included (SigV4 for service `secretsmanager`). */
export function signedHeaders(opts: {
  endpoint: URL;
  region: string;
  body: string;
  credentials: Credentials;
  now: Date;
}): Record<string, string> {
  const { endpoint, region, body, credentials } = opts;
  const amzDate = opts.now
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d{3}/, ''); // 20261130T201500Z
  const day = amzDate.slice(0, 8);
  const payloadHash = sha256(body);
  // The headers the SDK's client signs for this call (x-amz-content-sha256 included).
  const headers: Record<string, string> = {
    'content-type': 'application/x-amz-json-1.1',
    host: endpoint.host,
    'x-amz-content-sha256': payloadHash,
    'x-amz-date': amzDate,
    'x-amz-target': 'secretsmanager.GetSecretValue',
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
  const scope = `${day}/${region}/secretsmanager/aws4_request`;
  const stringToSign = ['AWS4-HMAC-SHA256', amzDate, scope, sha256(canonicalRequest)].join('\n');
  let key = hmac(`AWS4${credentials.secretAccessKey}`, day);
  for (const part of [region, 'secretsmanager', 'aws4_request']) key = hmac(key, part);
  const signature = createHmac('sha256', key).update(stringToSign).digest('hex');
  headers.authorization =
    `AWS4-HMAC-SHA256 Credential=${credentials.accessKeyId}/${scope}, ` +
    `SignedHeaders=${names.join(';')}, Signature=${signature}`;
  return headers;
}

/** Secrets Manager answers in milliseconds; a cold start that cannot reach it should fail, not hang. */
const TIMEOUT_MS = 10_000;

function post(
  url: URL,
  headers: Record<string, string>,
  body: string,
): Promise<{ status: number; text: string }> {
  const request = url.protocol === 'http:' ? http.request : https.request;
  return new Promise((resolve, reject) => {
    const req = request(
      url,
      {
        method: 'POST',
        headers: { ...headers, 'content-length': String(Buffer.byteLength(body)) },
        signal: AbortSignal.timeout(TIMEOUT_MS),
      },
      (res) => {
        // Whole, but bounded: a secret holds at most 64 KiB.
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString() }));
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}
