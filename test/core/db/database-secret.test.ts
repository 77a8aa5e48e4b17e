import { afterEach, describe, expect, it } from '@jest/globals';
import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { mockClient } from 'aws-sdk-client-mock';
import pg from 'pg';
import { ConfigError } from '../../../core/config.js';
import { resolveDatabaseUrl } from '../../../core/db/database-secret.js';

/** DATABASE_URL from Secrets Manager (the Lambda's cold start and `jobs doctor`), on a mocked client. */
const ARN = 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:rds!db-1234';
const secrets = mockClient(SecretsManagerClient);
const client = () => new SecretsManagerClient({ region: 'eu-west-1' });
afterEach(() => {
  secrets.reset();
});

describe('resolveDatabaseUrl', () => {
  it('returns DATABASE_URL untouched, without calling AWS, when no secret is configured', async () => {
    const url = 'postgresql://u:p@db:5432/jobs';
    expect(await resolveDatabaseUrl({ databaseUrl: url }, client())).toBe(url);
    expect(secrets.calls()).toHaveLength(0);
  });

  it("fills RDS's {username,password} into DATABASE_URL, encoding what a password may hold", async () => {
    secrets.on(GetSecretValueCommand, { SecretId: ARN }).resolves({
      SecretString: JSON.stringify({ username: 'jobs', password: 'p@ss:w/rd?#%' }),
    });
    const url = await resolveDatabaseUrl(
      { databaseUrl: 'postgresql://jobs@db.internal:5432/jobs?sslmode=verify-full', databaseSecretArn: ARN },
      client(),
    );
    // What node-postgres will connect with:
    const { parse } = await import('pg-connection-string');
    expect(parse(url!)).toMatchObject({
      user: 'jobs',
      password: 'p@ss:w/rd?#%',
      host: 'db.internal',
      port: '5432',
      database: 'jobs',
    });
    expect(url).toMatch(/\?sslmode=verify-full$/);
    expect(secrets.commandCalls(GetSecretValueCommand)).toHaveLength(1);
  });

  it('takes a whole postgresql:// URL from the secret', async () => {
    secrets.on(GetSecretValueCommand).resolves({ SecretString: ' postgresql://a:b@elsewhere/x \n' });
    expect(
      await resolveDatabaseUrl(
        { databaseUrl: 'postgresql://jobs@db/jobs', databaseSecretArn: ARN },
        client(),
      ),
    ).toBe('postgresql://a:b@elsewhere/x');
  });

  it('builds the URL from host, port and dbname in the secret when DATABASE_URL is unset', async () => {
    secrets.on(GetSecretValueCommand).resolves({
      SecretString: JSON.stringify({
        username: 'u',
        password: 'p',
        host: 'h.internal',
        port: 6432,
        dbname: 'd',
      }),
    });
    expect(await resolveDatabaseUrl({ databaseSecretArn: ARN }, client())).toBe(
      'postgresql://u:p@h.internal:6432/d',
    );
  });

  it.each([
    [
      'an unreadable secret',
      () =>
        secrets
          .on(GetSecretValueCommand)
          .rejects(Object.assign(new Error('User is not authorized'), { name: 'AccessDeniedException' })),
      `cannot read the database secret ${ARN}: AccessDeniedException: User is not authorized`,
    ],
    [
      'a secret without a password',
      () => secrets.on(GetSecretValueCommand).resolves({ SecretString: '{"username":"u"}' }),
      `the database secret ${ARN} has no "password"`,
    ],
    [
      'a secret that is neither URL nor JSON',
      () => secrets.on(GetSecretValueCommand).resolves({ SecretString: 'hunter2' }),
      `the database secret ${ARN} is neither a postgresql:// URL nor JSON`,
    ],
    [
      'a binary secret',
      () => secrets.on(GetSecretValueCommand).resolves({ SecretBinary: new Uint8Array([1]) }),
      `the database secret ${ARN} has no string value`,
    ],
  ])('fails with a ConfigError on %s', async (_what, arrange, message) => {
    arrange();
    const p = resolveDatabaseUrl(
      { databaseUrl: 'postgresql://jobs@db/jobs', databaseSecretArn: ARN },
      client(),
    );
    await expect(p).rejects.toThrow(ConfigError);
    await expect(p).rejects.toThrow(message);
  });

  const maybe = process.env.TEST_DATABASE_URL ? it : it.skip;
  maybe('yields a URL node-postgres connects with (the local PostgreSQL server)', async () => {
    const base = new URL(process.env.TEST_DATABASE_URL!);
    secrets.on(GetSecretValueCommand).resolves({
      SecretString: JSON.stringify({
        username: decodeURIComponent(base.username),
        password: 'any: trust auth',
      }),
    });
    base.username = 'nobody';
    const url = await resolveDatabaseUrl({ databaseUrl: base.toString(), databaseSecretArn: ARN }, client());
    const c = new pg.Client({ connectionString: url });
    await c.connect();
    try {
      const { rows } = await c.query<{ user: string }>('SELECT current_user AS user');
      expect(rows[0].user).toBe(decodeURIComponent(new URL(process.env.TEST_DATABASE_URL!).username));
    } finally {
      await c.end();
    }
  });
});
