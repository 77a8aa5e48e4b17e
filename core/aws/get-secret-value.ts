import { awsJsonCall, credentialsOf, endpointOf } from './aws-json-call.js';

/**
 * Secrets Manager's GetSecretValue as one signed request (core/aws/aws-json-call.ts), with the
 * credentials in the environment. Resolves undefined when that does not apply (no credentials
 * there, an endpoint not known here, a secret named without its ARN): the caller uses the SDK.
 * Rejects with AwsServiceError (`name` as the SDK's: ResourceNotFoundException…).
 *
 * @example
 *   const got = await getSecretValue(arn, 'eu-west-1'); // { secretString } or undefined
 */
export async function getSecretValue(
  secretId: string,
  region: string,
  env: NodeJS.ProcessEnv = process.env,
  now?: Date,
): Promise<{ secretString?: string } | undefined> {
  const credentials = credentialsOf(env);
  // The ARN names its partition (arn:aws-cn:secretsmanager:…).
  const partition = secretId.startsWith('arn:') ? secretId.split(':')[1]! : '';
  const endpoint = endpointOf(
    { prefix: 'secretsmanager', envName: 'SECRETS_MANAGER' },
    region,
    partition,
    env,
  );
  if (!credentials || !endpoint) return undefined;
  const out = await awsJsonCall(
    {
      service: 'secretsmanager',
      target: 'secretsmanager.GetSecretValue',
      contentType: 'application/x-amz-json-1.1',
      region,
      endpoint,
      body: { SecretId: secretId },
    },
    credentials,
    now,
  );
  return { secretString: typeof out.SecretString === 'string' ? out.SecretString : undefined };
}
