import fs from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { until } from '../helpers/counting.js';
import { startTestServer, type TestServer } from '../helpers/api-server.js';
import { startReceiver, type TestReceiver } from '../core/webhooks/receiver.js';
import { verifySignature } from '../../core/webhooks/signature.js';
import { runCli, tempConfigHome } from './helpers/run-cli.js';

/**
 * `jobs submit --webhook` and `jobs webhooks …` spawned as `node bin/run.js` (build first) against
 * a real server with a worker, delivering to a receiver on loopback (with the allowance).
 */
describe('jobs webhooks against a real server', () => {
  let s: TestServer;
  let receiver: TestReceiver;
  let configHome: string;
  let alice: string;

  beforeAll(async () => {
    s = await startTestServer('pglite', { config: { webhookAllowPrivate: true } });
    receiver = await startReceiver([200]);
    configHome = tempConfigHome();
    alice = await s.token('alice');
    s.startWorker();
  });
  afterAll(async () => {
    await s.close();
    await receiver.close();
    fs.rmSync(configHome, { recursive: true, force: true });
  });

  const jobs = (args: string[], token = alice) =>
    runCli(args, { env: { XDG_CONFIG_HOME: configHome, JOBS_API_URL: s.url, JOBS_TOKEN: token } });

  it('submit --webhook; the delivery shows in `webhooks deliveries` (table and --json), signed with `webhooks secret`', async () => {
    const submitted = await jobs(['submit', '--type', 'noop', '--webhook', receiver.url, '--wait', '--json']);
    expect(submitted.code).toBe(0);
    const job = JSON.parse(submitted.stdout);
    expect(job).toMatchObject({ status: 'COMPLETED', webhookUrl: receiver.url });

    const page = await until(
      'the delivery',
      async () => JSON.parse((await jobs(['webhooks', 'deliveries', job.id, '--json'])).stdout),
      (p) => p.items[0]?.state === 'delivered',
    );
    expect(page.items[0]).toMatchObject({ jobId: job.id, event: 'job.completed', attempts: 1 });

    const table = await jobs(['webhooks', 'deliveries', job.id.slice(0, 8)]);
    expect(table.code).toBe(0);
    expect(table.stdout).toContain(`job.completed → ${receiver.url}: delivered`);
    expect(table.stdout).toMatch(/200/);

    const secret = await jobs(['webhooks', 'secret']);
    expect(secret.code).toBe(0);
    const [got] = await receiver.waitFor(1);
    expect(verifySignature(secret.stdout.trim(), String(got.headers['jobs-signature']), got.body)).toBe(true);

    const rotated = await jobs(['webhooks', 'secret', '--rotate', '--json']);
    expect(JSON.parse(rotated.stdout)).toMatchObject({ previousSecretValidUntil: expect.any(String) });
    expect(JSON.parse(rotated.stdout).secret).not.toBe(secret.stdout.trim());

    const getJob = await jobs(['get', job.id]);
    expect(getJob.stdout).toMatch(new RegExp(`webhook\\s*:?\\s*${receiver.url.replace(/[/.]/g, '\\$&')}`));
  });

  it('set-default, show and --clear; a private URL is the server’s 400 (without the allowance elsewhere)', async () => {
    expect((await jobs(['webhooks', 'show'])).stdout.trim()).toBe('no default webhook');
    const set = await jobs(['webhooks', 'set-default', 'https://example.com/hooks/jobs']);
    expect(set).toMatchObject({ code: 0 });
    expect(set.stdout.trim()).toBe('https://example.com/hooks/jobs');
    expect((await jobs(['webhooks', 'show', '--json'])).stdout).toContain(
      '"url": "https://example.com/hooks/jobs"',
    );
    const viaDefault = JSON.parse((await jobs(['submit', '--type', 'noop', '--json'])).stdout);
    expect(viaDefault.webhookUrl).toBe('https://example.com/hooks/jobs');
    expect((await jobs(['webhooks', 'set-default', '--clear'])).stdout.trim()).toBe('no default webhook');

    const both = await jobs(['webhooks', 'set-default']);
    expect(both.code).toBe(2);
    expect(both.stderr).toMatch(/give a URL, or --clear/);
    const bad = await jobs(['webhooks', 'set-default', 'ftp://example.com/x']);
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toMatch(/url must use http or https, not ftp/);
  });

  it("another user's job: deliveries is not found", async () => {
    const job = JSON.parse((await jobs(['submit', '--type', 'noop', '--json'])).stdout);
    const bob = await s.token('bob');
    const r = await jobs(['webhooks', 'deliveries', job.id], bob);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/not found/);
  });
});
