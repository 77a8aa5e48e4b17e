import type { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { getSecretValue } from '../aws/get-secret-value.js';
import { ConfigError, type Config } from '../config.js';

/** What a database secret may hold besides a plain URL (RDS's managed secret has the first two). */
interface SecretFields {
  username?: string;
  password?: string;
  host?: string;
  port?: number | string;
  dbname?: string;
}

/**
 * The database URL to connect with. Without `databaseSecretArn` it is `databaseUrl` as given.
 * With it, the secret is read once (at start, never per request): a secret holding a whole
 * `postgresql://` URL replaces `databaseUrl`; a JSON secret (RDS's `{username,password}`, with
 * optional `host`, `port`, `dbname`) fills the credentials into `databaseUrl`, which then
 * carries only the non-secret parts (`postgresql://jobs@host:5432/jobs?sslmode=verify-full`).
 *
 * @example
 *   const url = await resolveDatabaseUrl(loadConfig()); // Lambda cold start, `jobs doctor`
 */
export async function resolveDatabaseUrl(
  config: Pick<Config, 'databaseUrl' | 'databaseSecretArn' | 'awsRegion'>,
  client?: SecretsManagerClient,
): Promise<string | undefined> {
  const arn = config.databaseSecretArn;
  if (!arn) return config.databaseUrl;
  const region = config.awsRegion ?? regionOf(arn);
  let text: string | undefined;
  try {
    // With credentials in the environment (Lambda), one signed request; else the SDK client.
    const signed = client || !region ? undefined : await getSecretValue(arn, region);
    text = signed ? signed.secretString : await readWithSdk(arn, region, client);
  } catch (err) {
    const e = err as { name?: string; message?: string };
    throw new ConfigError(
      `cannot read the database secret ${arn}: ${e.name ?? 'Error'}: ${e.message ?? String(err)}`,
      {
        cause: err,
      },
    );
  }
  if (!text) throw new ConfigError(`the database secret ${arn} has no string value`);
  const trimmed = text.trim();
  if (/^postgres(ql)?:\/\//.test(trimmed)) return trimmed;

  let fields: SecretFields;
  try {
    fields = JSON.parse(trimmed) as SecretFields;
  } catch {
    throw new ConfigError(`the database secret ${arn} is neither a postgresql:// URL nor JSON`);
  }
  if (typeof fields.password !== 'string' || fields.password === '') {
    throw new ConfigError(`the database secret ${arn} has no "password"`);
  }
  let url: URL;
  if (config.databaseUrl) {
    url = new URL(config.databaseUrl);
  } else if (fields.host) {
    url = new URL('postgresql://localhost');
  } else {
    throw new ConfigError(`DATABASE_URL is required with a secret that holds no "host" (${arn})`);
  }
  if (fields.host) url.hostname = fields.host;
  if (fields.port) url.port = String(fields.port);
  if (fields.dbname) url.pathname = `/${fields.dbname}`;
  // URL's setters percent-encode what a password may hold (@, :, /, …); pg decodes it.
  if (fields.username) url.username = encodeURIComponent(fields.username);
  url.password = encodeURIComponent(fields.password);
  return url.toString();
}

/**
 * GetSecretValue through the SDK (its credential provider chain: instance roles, SSO profiles…).
 * Imported here, not at the top: a process without a secret never loads the client.
 */
async function readWithSdk(
  arn: string,
  region: string | undefined,
  client?: SecretsManagerClient,
): Promise<string | undefined> {
  const { GetSecretValueCommand, SecretsManagerClient } = await import('@aws-sdk/client-secrets-manager');
  const secrets = client ?? new SecretsManagerClient({ region });
  try {
    return (await secrets.send(new GetSecretValueCommand({ SecretId: arn }))).SecretString;
  } finally {
    if (!client) secrets.destroy();
  }
}

/** The region of an ARN (`arn:aws:secretsmanager:<region>:…`). */
function regionOf(arn: string): string | undefined {
  return arn.split(':')[3] || undefined;
}
