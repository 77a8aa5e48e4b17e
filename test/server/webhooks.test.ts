import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { verifySignature } from '../../core/webhooks/signature.js';
import { api, filesUnder, startTestServer, waitForJob, type TestServer } from '../helpers/api-server.js';
import { startReceiver, type TestReceiver } from '../core/webhooks/receiver.js';

/** Polls a job's deliveries until `done` holds (a deadline for a stuck deliverer only). */
async function waitForDeliveries(s: TestServer, token: string, id: string, done: (items: any[]) => boolean) {
  const until = Date.now() + 60_000;
  for (;;) {
    const r = await api(s.url, token, 'GET', `/api/jobs/${id}/webhook-deliveries`);
    expect(r.status).toBe(200);
    if (done(r.body.items)) return r.body.items;
    if (Date.now() > until) throw new Error(`deliveries of ${id}: ${JSON.stringify(r.body.items)}`);
    await new Promise((res) => setTimeout(res, 100));
  }
}

describe('webhooks API without the private-address allowance (the default)', () => {
  let s: TestServer;
  let alice: string;

  beforeAll(async () => {
    s = await startTestServer('pglite');
    alice = await s.token('alice');
  });
  afterAll(async () => {
    await s.close();
  });

  it('refuses a private or loopback webhookUrl at submit (JSON, multipart and batch item), creating nothing', async () => {
    for (const url of [
      'http://127.0.0.1:9000/hook',
      'http://169.254.169.254/',
      'http://localhost/x',
      'http://[::1]/',
    ]) {
      const r = await api(s.url, alice, 'POST', '/api/jobs', { type: 'noop', webhookUrl: url });
      expect(r.status).toBe(400);
      expect(r.body.error.code).toBe('validation_failed');
      expect(r.body.error.message).toMatch(/webhookUrl points to a private, loopback or link-local address/);
    }
    const bad = await api(s.url, alice, 'POST', '/api/jobs', {
      type: 'noop',
      webhookUrl: 'ftp://example.com/x',
    });
    expect(bad.status).toBe(400);
    expect(bad.body.error.message).toBe('webhookUrl must use http or https, not ftp');

    const form = new FormData();
    form.set('type', 'csv-import');
    form.set('webhookUrl', 'http://10.0.0.1/hook');
    form.set('file', new Blob(['a,b\n1,2\n']), 'x.csv');
    const multi = await api(s.url, alice, 'POST', '/api/jobs', form);
    expect(multi.status).toBe(400);
    expect(multi.body.error.message).toMatch(/webhookUrl points to a private/);
    expect(filesUnder(s.blobsDir)).toEqual([]);

    const batch = await api(s.url, alice, 'POST', '/api/jobs/batch', {
      jobs: [
        { type: 'noop', webhookUrl: 'http://192.168.0.10/hook' },
        { type: 'noop', webhookUrl: 'https://example.com/hooks/jobs' },
      ],
    });
    expect(batch.status).toBe(200);
    expect(batch.body.results[0]).toMatchObject({ status: 400, error: { code: 'validation_failed' } });
    expect(batch.body.results[1]).toMatchObject({
      status: 201,
      job: { webhookUrl: 'https://example.com/hooks/jobs' },
    });
    expect(await s.t.db.prisma.job.count()).toBe(1);
  });

  it('shows the webhookUrl on the job; a public name is taken (it is resolved at delivery)', async () => {
    const r = await api(s.url, alice, 'POST', '/api/jobs', {
      type: 'noop',
      webhookUrl: 'https://hooks.example.com/jobs?x=1',
    });
    expect(r.status).toBe(201);
    expect(r.body.webhookUrl).toBe('https://hooks.example.com/jobs?x=1');
    const got = await api(s.url, alice, 'GET', `/api/jobs/${r.body.id}`);
    expect(got.body.webhookUrl).toBe('https://hooks.example.com/jobs?x=1');
    const plain = await api(s.url, alice, 'POST', '/api/jobs', { type: 'noop' });
    expect(plain.body.webhookUrl).toBeNull();
  });

  it('an Idempotency-Key reused with another webhookUrl is a 422; with the same one, the first job', async () => {
    const key = { 'idempotency-key': 'hook-key-1' };
    const body = { type: 'noop', webhookUrl: 'https://example.com/a' };
    const first = await api(s.url, alice, 'POST', '/api/jobs', body, key);
    expect(first.status).toBe(201);
    const again = await api(s.url, alice, 'POST', '/api/jobs', body, key);
    expect(again).toMatchObject({ status: 200, body: { id: first.body.id } });
    const other = await api(
      s.url,
      alice,
      'POST',
      '/api/jobs',
      { ...body, webhookUrl: 'https://example.com/b' },
      key,
    );
    expect(other.status).toBe(422);
    expect(other.body.error.details.fields).toEqual(['webhookUrl']);
  });

  it("the owner's default: set, used by jobs submitted without their own, cleared; checked like a job's", async () => {
    const bob = await s.token('bob');
    expect((await api(s.url, bob, 'GET', '/api/webhooks/default')).body).toEqual({ url: null });
    const set = await api(s.url, bob, 'PUT', '/api/webhooks/default', { url: 'https://example.com/default' });
    expect(set).toEqual({ status: 200, body: { url: 'https://example.com/default' } });
    const viaDefault = await api(s.url, bob, 'POST', '/api/jobs', { type: 'noop' });
    expect(viaDefault.body.webhookUrl).toBe('https://example.com/default');
    const own = await api(s.url, bob, 'POST', '/api/jobs', {
      type: 'noop',
      webhookUrl: 'https://example.com/own',
    });
    expect(own.body.webhookUrl).toBe('https://example.com/own');
    const batch = await api(s.url, bob, 'POST', '/api/jobs/batch', { jobs: [{ type: 'noop' }] });
    expect(batch.body.results[0].job.webhookUrl).toBe('https://example.com/default');
    // Another user's jobs do not get it.
    expect((await api(s.url, alice, 'POST', '/api/jobs', { type: 'noop' })).body.webhookUrl).toBeNull();

    const priv = await api(s.url, bob, 'PUT', '/api/webhooks/default', { url: 'http://127.0.0.1/x' });
    expect(priv.status).toBe(400);
    expect(priv.body.error.message).toMatch(/^url points to a private/);
    expect(
      (await api(s.url, bob, 'PUT', '/api/webhooks/default', { url: 'http://x', extra: 1 })).status,
    ).toBe(400);

    expect((await api(s.url, bob, 'PUT', '/api/webhooks/default', { url: null })).body).toEqual({
      url: null,
    });
    expect((await api(s.url, bob, 'POST', '/api/jobs', { type: 'noop' })).body.webhookUrl).toBeNull();
    // The job submitted under the default keeps it.
    expect((await api(s.url, bob, 'GET', `/api/jobs/${viaDefault.body.id}`)).body.webhookUrl).toBe(
      'https://example.com/default',
    );
  });

  it('the signing secret: made on first read, the same on the next, replaced by a rotation', async () => {
    const carol = await s.token('carol');
    const first = await api(s.url, carol, 'GET', '/api/webhooks/secret');
    expect(first.status).toBe(200);
    expect(first.body).toEqual({
      secret: expect.stringMatching(/^whsec_[A-Za-z0-9_-]{43}$/),
      previousSecretValidUntil: null,
    });
    expect((await api(s.url, carol, 'GET', '/api/webhooks/secret')).body.secret).toBe(first.body.secret);
    const rotated = await api(s.url, carol, 'POST', '/api/webhooks/secret/rotate');
    expect(rotated.body.secret).not.toBe(first.body.secret);
    const until = Date.parse(rotated.body.previousSecretValidUntil);
    expect(until - Date.now()).toBeGreaterThan(23 * 3_600_000);
    expect((await api(s.url, alice, 'GET', '/api/webhooks/secret')).body.secret).not.toBe(
      rotated.body.secret,
    );
    // A read-only token may not read it.
    const reader = await s.token('carol', { permissions: ['job:Read'] });
    expect((await api(s.url, reader, 'GET', '/api/webhooks/secret')).status).toBe(403);
  });

  it("a job's deliveries: its owner and admins see them, another user gets 404", async () => {
    const job = await api(s.url, alice, 'POST', '/api/jobs', {
      type: 'noop',
      webhookUrl: 'https://example.com/h',
    });
    const mine = await api(s.url, alice, 'GET', `/api/jobs/${job.body.id}/webhook-deliveries`);
    expect(mine).toEqual({ status: 200, body: { items: [] } });
    const mallory = await s.token('mallory');
    const theirs = await api(s.url, mallory, 'GET', `/api/jobs/${job.body.id}/webhook-deliveries`);
    expect(theirs.status).toBe(404);
    expect(theirs.body.error.code).toBe('not_found');
    const admin = await s.token('root', { admin: true });
    expect((await api(s.url, admin, 'GET', `/api/jobs/${job.body.id}/webhook-deliveries`)).status).toBe(200);
    expect((await api(s.url, alice, 'GET', '/api/jobs/not-a-uuid/webhook-deliveries')).status).toBe(404);
  });
});

describe('webhooks end to end with the allowance (a receiver on loopback)', () => {
  let s: TestServer;
  let receiver: TestReceiver;
  let alice: string;

  beforeAll(async () => {
    s = await startTestServer('pglite', { config: { webhookAllowPrivate: true } });
    receiver = await startReceiver([500, 200]);
    alice = await s.token('alice');
    s.startWorker();
  });
  afterAll(async () => {
    await s.close();
    await receiver.close();
  });

  it('POSTs the finished job, signed, retries after a 500, and shows each attempt', async () => {
    const r = await api(s.url, alice, 'POST', '/api/jobs', { type: 'noop', webhookUrl: receiver.url });
    expect(r.status).toBe(201);
    const job = await waitForJob(s.url, alice, r.body.id);
    expect(job.status).toBe('COMPLETED');

    // The first attempt got a 500; the retry comes ~30 s later in real time, so move it forward.
    const [first] = await waitForDeliveries(s, alice, job.id, (items) => items[0]?.attempts >= 1);
    expect(first).toMatchObject({ event: 'job.completed', url: receiver.url, state: 'pending', attempts: 1 });
    expect(first.history[0]).toMatchObject({ n: 1, statusCode: 500, error: 'HTTP 500: nope 500' });
    await s.t.db.prisma.webhookDelivery.update({
      where: { id: first.id },
      data: { nextAttemptAt: new Date(0) },
    });
    const [done] = await waitForDeliveries(s, alice, job.id, (items) => items[0]?.state === 'delivered');
    expect(done.attempts).toBe(2);
    expect(done.history.map((a: any) => a.statusCode)).toEqual([500, 200]);
    expect(done.finishedAt).not.toBeNull();

    const { secret } = (await api(s.url, alice, 'GET', '/api/webhooks/secret')).body;
    const got = await receiver.waitFor(2);
    for (const g of got) {
      expect(g.headers['jobs-delivery']).toBe(done.id);
      expect(verifySignature(secret, String(g.headers['jobs-signature']), g.body)).toBe(true);
    }
    // The body is the job as GET /api/jobs/:id answers it.
    expect(JSON.parse(got[1].body)).toEqual((await api(s.url, alice, 'GET', `/api/jobs/${job.id}`)).body);
  });
});
