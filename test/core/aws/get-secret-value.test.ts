import { createHash, createHmac } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { SignatureV4 } from '@smithy/signature-v4';
import { signedHeaders } from '../../../core/aws/aws-json-call.js';
import { getSecretValue } from '../../../core/aws/get-secret-value.js';
import { resolveDatabaseUrl } from '../../../core/db/database-secret.js';

/** The hash the SDK's signer is given (its own comes from another package). */
class Sha256 {
  private readonly h;
  constructor(secret?: unknown) {
    this.h = secret ? createHmac('sha256', secret as Uint8Array | string) : createHash('sha256');
  }
  update(data: unknown) {
    this.h.update(data as Uint8Array | string);
  }
  async digest() {
    return new Uint8Array(this.h.digest());
  }
}

const ARN = 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:rds!db-1234';
const credentials = {
  accessKeyId: 'AKIDEXAMPLE',
  secretAccessKey: 'wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY',
};
const now = new Date('2026-11-30T20:15:00.000Z');

describe('signedHeaders (SigV4 for GetSecretValue)', () => {
  for (const sessionToken of [undefined, 'IQoJb3JpZ2luX2VjE//session+token=']) {
    it(`signs as the SDK's signer does${sessionToken ? ' (with a session token)' : ''}`, async () => {
      const endpoint = new URL('https://secretsmanager.eu-west-1.amazonaws.com/');
      const body = JSON.stringify({ SecretId: ARN });
      const ours = signedHeaders({
        service: 'secretsmanager',
        target: 'secretsmanager.GetSecretValue',
        contentType: 'application/x-amz-json-1.1',
        endpoint,
        region: 'eu-west-1',
        body,
        credentials: { ...credentials, sessionToken },
        now,
      });
      const sdk = await new SignatureV4({
        credentials: { ...credentials, sessionToken },
        region: 'eu-west-1',
        service: 'secretsmanager',
        sha256: Sha256,
      }).sign(
        {
          method: 'POST',
          protocol: 'https:',
          hostname: endpoint.hostname,
          path: '/',
          query: {},
          headers: {
            'content-type': 'application/x-amz-json-1.1',
            host: endpoint.host,
            'x-amz-target': 'secretsmanager.GetSecretValue',
          },
          body,
        },
        { signingDate: now },
      );
      expect(ours.authorization).toBe(sdk.headers.authorization);
      expect(ours['x-amz-date']).toBe('20261130T201500Z');
      expect(ours['x-amz-security-token']).toBe(sessionToken);
    });
  }
});

describe('getSecretValue', () => {
  let server: http.Server;
  let endpoint: string;
  const seen: { target?: string; authorization?: string; body: string }[] = [];

  beforeAll(async () => {
    // Answers as Secrets Manager does: the value, or a typed error for an unknown secret.
    server = http.createServer((req, res) => {
      let body = '';
      req.on('data', (d: Buffer) => (body += d));
      req.on('end', () => {
        seen.push({
          target: req.headers['x-amz-target'] as string,
          authorization: req.headers.authorization,
          body,
        });
        res.setHeader('content-type', 'application/x-amz-json-1.1');
        if (JSON.parse(body).SecretId !== ARN) {
          res.statusCode = 400;
          res.end(
            JSON.stringify({
              __type: 'ResourceNotFoundException',
              message: "Secrets Manager can't find the specified secret.",
            }),
          );
          return;
        }
        res.end(
          JSON.stringify({ ARN, Name: 'rds!db-1234', SecretString: '{"username":"jobs","password":"pw"}' }),
        );
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    await new Promise((resolve) => server.close(resolve));
  });

  const env = () => ({
    AWS_ACCESS_KEY_ID: credentials.accessKeyId,
    AWS_SECRET_ACCESS_KEY: credentials.secretAccessKey,
    AWS_ENDPOINT_URL_SECRETS_MANAGER: endpoint,
  });

  it('reads the secret with one signed request', async () => {
    seen.length = 0;
    expect(await getSecretValue(ARN, 'eu-west-1', env())).toEqual({
      secretString: '{"username":"jobs","password":"pw"}',
    });
    expect(seen).toEqual([
      {
        target: 'secretsmanager.GetSecretValue',
        authorization: expect.stringMatching(
          /^AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE\/\d{8}\/eu-west-1\/secretsmanager\/aws4_request, SignedHeaders=content-type;host;x-amz-content-sha256;x-amz-date;x-amz-target, Signature=[0-9a-f]{64}$/,
        ),
        body: JSON.stringify({ SecretId: ARN }),
      },
    ]);
  });

  it("fails with Secrets Manager's error, named as the SDK names it", async () => {
    const missing = ARN.replace('db-1234', 'db-9999');
    await expect(getSecretValue(missing, 'eu-west-1', env())).rejects.toMatchObject({
      name: 'ResourceNotFoundException',
      message: "Secrets Manager can't find the specified secret.",
    });
  });

  it('tries again after a 5xx or a throttling answer, as the SDK does, and gives up after 3 attempts', async () => {
    const flaky: { status: number; body: unknown }[] = [
      { status: 500, body: { __type: 'InternalServiceError', message: 'try again' } },
      { status: 400, body: { __type: 'ThrottlingException', message: 'Rate exceeded' } },
    ];
    let calls = 0;
    const answers = http.createServer((req, res) => {
      req.resume();
      req.on('end', () => {
        const a = flaky[calls++];
        res.statusCode = a?.status ?? 200;
        res.end(JSON.stringify(a?.body ?? { SecretString: 'third time' }));
      });
    });
    await new Promise<void>((resolve) => answers.listen(0, '127.0.0.1', resolve));
    try {
      const at = {
        ...env(),
        AWS_ENDPOINT_URL_SECRETS_MANAGER: `http://127.0.0.1:${(answers.address() as AddressInfo).port}`,
      };
      expect(await getSecretValue(ARN, 'eu-west-1', at)).toEqual({ secretString: 'third time' });
      expect(calls).toBe(3);
      // Now every attempt fails: the third one's error is the answer.
      const down = { status: 503, body: { __type: 'ServiceUnavailable', message: 'down' } };
      flaky.splice(0, flaky.length, down, down, down, down);
      calls = 0;
      await expect(getSecretValue(ARN, 'eu-west-1', at)).rejects.toMatchObject({
        name: 'ServiceUnavailable',
      });
      expect(calls).toBe(3);
    } finally {
      await new Promise((resolve) => answers.close(resolve));
    }
  });

  it('leaves the call to the SDK where it does not apply', async () => {
    // No credentials in the environment (the SDK's provider chain finds them), FIPS endpoints,
    // a partition whose endpoint is not known here.
    expect(
      await getSecretValue(ARN, 'eu-west-1', { AWS_ENDPOINT_URL_SECRETS_MANAGER: endpoint }),
    ).toBeUndefined();
    const keys = { AWS_ACCESS_KEY_ID: 'a', AWS_SECRET_ACCESS_KEY: 'b' };
    expect(
      await getSecretValue(ARN, 'eu-west-1', { ...keys, AWS_USE_FIPS_ENDPOINT: 'true' }),
    ).toBeUndefined();
    expect(
      await getSecretValue(ARN.replace('arn:aws:', 'arn:aws-iso:'), 'us-iso-east-1', keys),
    ).toBeUndefined();
  });

  it('is what resolveDatabaseUrl uses when the environment has credentials', async () => {
    const saved = { ...process.env };
    Object.assign(process.env, env());
    try {
      const url = await resolveDatabaseUrl({
        databaseUrl: 'postgresql://jobs@db.internal:5432/jobs',
        databaseSecretArn: ARN,
      });
      expect(url).toBe('postgresql://jobs:pw@db.internal:5432/jobs');
      await expect(
        resolveDatabaseUrl({
          databaseUrl: 'postgresql://db/jobs',
          databaseSecretArn: ARN.replace('db-1234', 'db-9'),
        }),
      ).rejects.toThrow(
        `cannot read the database secret ${ARN.replace('db-1234', 'db-9')}: ResourceNotFoundException: Secrets Manager can't find the specified secret.`,
      );
    } finally {
      process.env = saved;
    }
  });
});
