import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from '@jest/globals';
import { verifySignature } from '../../core/webhooks/signature.js';
import { api, waitForJob } from '../helpers/api-server.js';
import { until } from '../helpers/counting.js';
import { profileToken, type ServerProcess, startServerProcess } from '../helpers/server-process.js';
import { startReceiver, type TestReceiver } from '../core/webhooks/receiver.js';

/**
 * A webhook delivery outlives its process: a real `jobs server` killed (SIGKILL) after the job
 * ended and while its delivery was in flight delivers it after a restart, with the same delivery
 * id (at least once; the receiver dedupes on it).
 */
describe('webhook delivery across a killed server', () => {
  let dataDir: string;
  let configHome: string;
  let server: ServerProcess | undefined;
  let receiver: TestReceiver | undefined;

  afterEach(async () => {
    await server?.stop('SIGKILL');
    server = undefined;
    await receiver?.close();
    fs.rmSync(dataDir, { recursive: true, force: true });
    fs.rmSync(configHome, { recursive: true, force: true });
  });

  it('delivers after a restart what was in flight when the process died', async () => {
    dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'jobs-webhook-kill-'));
    configHome = fs.mkdtempSync(path.join(os.tmpdir(), 'jobs-webhook-kill-cfg-'));
    const env = {
      JOBS_DATA_DIR: dataDir,
      XDG_CONFIG_HOME: configHome,
      JOBS_WEBHOOK_ALLOW_PRIVATE: 'true',
      // A claimed delivery lapses after twice this plus 5 s: the restart's wait.
      JOBS_WEBHOOK_TIMEOUT_SECONDS: '3',
    };
    receiver = await startReceiver([200]);
    receiver.hold(); // the first POST gets no answer: the process dies with it in flight
    server = await startServerProcess(env);
    const token = profileToken(configHome);
    const { body } = await api(server.url, token, 'POST', '/api/jobs', {
      type: 'noop',
      webhookUrl: receiver.url,
    });
    expect((await waitForJob(server.url, token, body.id)).status).toBe('COMPLETED');
    const [first] = await receiver.waitFor(1);
    await server.stop('SIGKILL');
    receiver.release();

    server = await startServerProcess(env);
    const got = await receiver.waitFor(2);
    expect(got[1].headers['jobs-delivery']).toBe(first.headers['jobs-delivery']);
    expect(got[1].body).toBe(first.body);
    const { secret } = (await api(server.url, token, 'GET', '/api/webhooks/secret')).body;
    expect(verifySignature(secret, String(got[1].headers['jobs-signature']), got[1].body)).toBe(true);
    const url = server.url;
    const items = await until(
      'the delivery recorded as delivered',
      async () =>
        (await api(url, token, 'GET', `/api/jobs/${body.id}/webhook-deliveries`)).body.items as any[],
      (items) => items[0]?.state === 'delivered',
    );
    // The killed attempt left no record (its process died before writing it); the one after the
    // restart is the first recorded.
    expect(items).toHaveLength(1);
    expect(items[0].history.map((a: any) => a.statusCode)).toEqual([200]);
  }, 120_000);
});
