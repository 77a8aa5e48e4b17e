import { afterAll, afterEach, beforeAll, describe, expect, it, jest } from '@jest/globals';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {
  GetFunctionConfigurationCommand,
  LambdaClient,
  UpdateFunctionCodeCommand,
} from '@aws-sdk/client-lambda';
import { Config as OclifConfig } from '@oclif/core';
import { mockClient } from 'aws-sdk-client-mock';
import Deploy from '../../cli/commands/deploy.js';
import { CliError } from '../../cli/lib/errors.js';
import { publishProcessor } from '../../cli/lib/infra-publish.js';
import { ROOT } from './helpers/run-cli.js';

/** `jobs deploy --processor-only`: UpdateFunctionCode on a mocked Lambda client. */
const lambdaMock = mockClient(LambdaClient);
let dir: string;
let zipPath: string;
let zip: Buffer;
let sha: string;

beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'jobs-publish-'));
  zipPath = path.join(dir, 'processor.zip');
  zip = Buffer.from('PK\u0003\u0004 pretend this is the esbuild bundle');
  fs.writeFileSync(zipPath, zip);
  sha = createHash('sha256').update(zip).digest('base64');
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));
afterEach(() => {
  lambdaMock.reset();
});

const client = () =>
  new LambdaClient({ region: 'eu-west-1', credentials: { accessKeyId: 'a', secretAccessKey: 'b' } });

describe('publishProcessor', () => {
  it('uploads the zip bytes, checks the stored hash and waits until the update is live', async () => {
    lambdaMock.on(UpdateFunctionCodeCommand).resolves({ CodeSha256: sha, LastUpdateStatus: 'InProgress' });
    lambdaMock
      .on(GetFunctionConfigurationCommand)
      .resolvesOnce({ LastUpdateStatus: 'InProgress' })
      .resolves({ LastUpdateStatus: 'Successful', LastModified: '2026-11-28T18:00:00.000+0000' });
    const result = await publishProcessor({
      lambda: client(),
      functionName: 'jobs-qa-processor',
      zipPath,
      pollMs: 10,
    });
    expect(result).toEqual({
      functionName: 'jobs-qa-processor',
      codeSha256: sha,
      codeSize: zip.length,
      lastModified: '2026-11-28T18:00:00.000+0000',
    });
    const [update] = lambdaMock.commandCalls(UpdateFunctionCodeCommand);
    expect(update.args[0].input.FunctionName).toBe('jobs-qa-processor');
    expect(Buffer.from(update.args[0].input.ZipFile!)).toEqual(zip);
    expect(lambdaMock.commandCalls(GetFunctionConfigurationCommand)).toHaveLength(2);
  });

  it('fails when Lambda stored other bytes than the zip', async () => {
    lambdaMock.on(UpdateFunctionCodeCommand).resolves({ CodeSha256: 'AAAA', LastUpdateStatus: 'Successful' });
    await expect(publishProcessor({ lambda: client(), functionName: 'f', zipPath })).rejects.toThrow(
      `Lambda stored code with SHA-256 AAAA, but ${zipPath} has ${sha}`,
    );
  });

  it('fails with the reason when the update fails', async () => {
    lambdaMock.on(UpdateFunctionCodeCommand).resolves({ CodeSha256: sha, LastUpdateStatus: 'InProgress' });
    lambdaMock.on(GetFunctionConfigurationCommand).resolves({
      LastUpdateStatus: 'Failed',
      LastUpdateStatusReason: 'Lambda was unable to configure access to your environment variables',
    });
    await expect(
      publishProcessor({ lambda: client(), functionName: 'f', zipPath, pollMs: 1 }),
    ).rejects.toThrow(
      'the update of f failed: Lambda was unable to configure access to your environment variables',
    );
  });

  it('says which function does not exist', async () => {
    lambdaMock.on(UpdateFunctionCodeCommand).rejects(
      Object.assign(new Error('Function not found: arn:aws:lambda:eu-west-1:1:function:nope'), {
        name: 'ResourceNotFoundException',
      }),
    );
    const p = publishProcessor({ lambda: client(), functionName: 'nope', zipPath });
    await expect(p).rejects.toThrow(CliError);
    await expect(p).rejects.toThrow(
      'cannot update the code of nope: ResourceNotFoundException: Function not found: arn:aws:lambda:eu-west-1:1:function:nope',
    );
  });

  it('gives up waiting after its deadline', async () => {
    lambdaMock.on(UpdateFunctionCodeCommand).resolves({ CodeSha256: sha, LastUpdateStatus: 'InProgress' });
    lambdaMock.on(GetFunctionConfigurationCommand).resolves({ LastUpdateStatus: 'InProgress' });
    await expect(
      publishProcessor({ lambda: client(), functionName: 'f', zipPath, waitMs: 30, pollMs: 5 }),
    ).rejects.toThrow('the update of f is still in progress');
  });
});

describe('the deploy command, in process', () => {
  it('--processor-only --function publishes --zip and prints the result as JSON', async () => {
    lambdaMock
      .on(UpdateFunctionCodeCommand)
      .resolves({ CodeSha256: sha, LastUpdateStatus: 'Successful', LastModified: 't' });
    // Without the command directory: oclif would import every command file to list them, which
    // jest's module VM cannot do; this test runs one command class directly.
    const pjson = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8'));
    const config = await OclifConfig.load({
      root: ROOT,
      pjson: { ...pjson, oclif: { ...pjson.oclif, commands: undefined } },
    });
    const written: string[] = [];
    const spy = jest.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
      written.push(String(chunk));
      return true;
    });
    try {
      await new Deploy(
        ['--processor-only', '--function', 'jobs-prod-processor', '--zip', zipPath, '--json'],
        config,
      ).run();
    } finally {
      spy.mockRestore();
    }
    expect(JSON.parse(written.join(''))).toEqual({
      functionName: 'jobs-prod-processor',
      codeSha256: sha,
      codeSize: zip.length,
      lastModified: 't',
    });
    expect(lambdaMock.commandCalls(UpdateFunctionCodeCommand)[0].args[0].input.FunctionName).toBe(
      'jobs-prod-processor',
    );
  });
});
