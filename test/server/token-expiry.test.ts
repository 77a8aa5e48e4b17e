import fs from 'node:fs';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from '@jest/globals';
import { api, startTestServer, type TestServer } from '../helpers/api-server.js';
import { dbKinds } from '../helpers/db.js';
import { runCli, tempConfigHome } from '../cli/helpers/run-cli.js';

const DAY = 86_400_000;

describe.each(dbKinds())('token expiry and last use on %s', (kind) => {
  let s: TestServer;
  let root: string;

  beforeAll(async () => {
    s = await startTestServer(kind);
  });
  afterAll(async () => {
    await s.close();
  });
  beforeEach(async () => {
    await s.reset();
    root = await s.token('root', { admin: true });
  });

  const tokenRow = (id: string) => s.t.db.prisma.apiToken.findUniqueOrThrow({ where: { id } });

  it('creates a token that expires (expiresIn or expiresAt), lists its expiry, and refuses it once past (401)', async () => {
    const before = Date.now();
    const created = await api(s.url, root, 'POST', '/api/tokens', { user: 'carol', expiresIn: '90d' });
    expect(created.status).toBe(201);
    const expiresAt = Date.parse(created.body.expiresAt);
    expect(expiresAt).toBeGreaterThanOrEqual(before + 90 * DAY);
    expect(expiresAt).toBeLessThanOrEqual(Date.now() + 90 * DAY);
    expect((await api(s.url, created.body.token, 'GET', '/api/jobs')).status).toBe(200);

    const at = new Date(Date.now() + 3 * DAY).toISOString();
    const byInstant = await api(s.url, root, 'POST', '/api/tokens', { user: 'dave', expiresAt: at });
    expect(byInstant.body.expiresAt).toBe(at);
    const never = await api(s.url, root, 'POST', '/api/tokens', { user: 'erin' });
    expect(never.body.expiresAt).toBeNull();

    const listed = (await api(s.url, root, 'GET', '/api/tokens')).body.items;
    const byId = new Map(listed.map((t: { id: string; expiresAt: string | null }) => [t.id, t.expiresAt]));
    expect(byId.get(created.body.id)).toBe(created.body.expiresAt);
    expect(byId.get(byInstant.body.id)).toBe(at);
    expect(byId.get(never.body.id)).toBeNull();

    // The clock passes the expiry (moved back in the row, as time would).
    await s.t.db.prisma.apiToken.update({
      where: { id: created.body.id },
      data: { expiresAt: new Date(Date.now() - 1000) },
    });
    s.auth.dropCache();
    const refused = await api(s.url, created.body.token, 'GET', '/api/jobs');
    expect(refused.status).toBe(401);
    expect(refused.body.error).toEqual({ code: 'unauthorized', message: 'token expired' });
    expect((await api(s.url, never.body.token, 'GET', '/api/jobs')).status).toBe(200);
  });

  it('refuses malformed or past expiries with 400 and creates nothing', async () => {
    const count = await s.t.db.prisma.apiToken.count();
    const cases: [Record<string, unknown>, RegExp][] = [
      [{ expiresIn: 'soon' }, /expiresIn must be a duration such as 90d/],
      [{ expiresIn: '0d' }, /expiresIn must be in the future/],
      [{ expiresIn: '4000d' }, /at most 3650 days/],
      [{ expiresAt: '2020-01-01T00:00:00Z' }, /expiresAt must be in the future/],
      [{ expiresAt: 'tomorrow' }, /expiresAt/],
      [{ expiresIn: '1d', expiresAt: new Date(Date.now() + DAY).toISOString() }, /not both/],
    ];
    for (const [extra, message] of cases) {
      const res = await api(s.url, root, 'POST', '/api/tokens', { user: 'carol', ...extra });
      expect({ extra, status: res.status }).toEqual({ extra, status: 400 });
      expect(res.body.error.message).toMatch(message);
    }
    expect(await s.t.db.prisma.apiToken.count()).toBe(count);
  });

  it('writes lastUsedAt on authentication, at most once a minute per token', async () => {
    const { id, token } = await s.auth.createToken({ userName: 'alice' });
    // Counts UPDATE statements on api_tokens, including those that change no row.
    const sql = (q: string) => s.t.db.prisma.$executeRawUnsafe(q);
    await sql('CREATE TABLE test_token_updates (n int NOT NULL)');
    await sql('INSERT INTO test_token_updates VALUES (0)');
    await sql(`CREATE FUNCTION test_count_token_updates() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN UPDATE test_token_updates SET n = n + 1; RETURN NULL; END $$`);
    await sql(`CREATE TRIGGER test_count_token_updates AFTER UPDATE ON api_tokens
      FOR EACH STATEMENT EXECUTE FUNCTION test_count_token_updates()`);
    const updates = async () =>
      (await s.t.db.prisma.$queryRawUnsafe<{ n: number }[]>('SELECT n FROM test_token_updates'))[0]!.n;
    try {
      expect((await tokenRow(id)).lastUsedAt).toBeNull();
      const before = Date.now();
      for (let i = 0; i < 5; i++) expect((await api(s.url, token, 'GET', '/api/jobs')).status).toBe(200);
      const first = (await tokenRow(id)).lastUsedAt!;
      expect(first.getTime()).toBeGreaterThanOrEqual(before - 1000);
      expect(await updates()).toBe(1);

      // Used 30 s ago: no write (not even one that changes nothing).
      const recent = new Date(Date.now() - 30_000);
      await s.t.db.prisma.$executeRaw`UPDATE api_tokens SET last_used_at = ${recent} WHERE id = ${id}::uuid`;
      s.auth.dropCache(); // as if the token cache's second had passed: the row is read again
      const writesBefore = await updates();
      expect((await api(s.url, token, 'GET', '/api/jobs')).status).toBe(200);
      expect(await updates()).toBe(writesBefore);
      expect((await tokenRow(id)).lastUsedAt).toEqual(recent);

      // Used 2 minutes ago: written again.
      const old = new Date(Date.now() - 120_000);
      await s.t.db.prisma.$executeRaw`UPDATE api_tokens SET last_used_at = ${old} WHERE id = ${id}::uuid`;
      s.auth.dropCache();
      expect((await api(s.url, token, 'GET', '/api/jobs')).status).toBe(200);
      expect((await tokenRow(id)).lastUsedAt!.getTime()).toBeGreaterThan(old.getTime() + 60_000);
      expect(await updates()).toBe(writesBefore + 2);

      const listed = (await api(s.url, root, 'GET', '/api/tokens')).body.items;
      expect(listed.find((t: { id: string }) => t.id === id).lastUsedAt).toEqual(expect.any(String));
    } finally {
      await sql('DROP TRIGGER test_count_token_updates ON api_tokens');
      await sql('DROP FUNCTION test_count_token_updates()');
      await sql('DROP TABLE test_token_updates');
    }
  });

  if (kind === 'pglite') {
    it('jobs tokens create --expires and tokens list (table and JSON) through the CLI', async () => {
      const home = tempConfigHome();
      const env = { XDG_CONFIG_HOME: home, JOBS_API_URL: s.url, JOBS_TOKEN: root };
      try {
        const created = await runCli(['tokens', 'create', '--user', 'dave', '--expires', '90d', '--json'], {
          env,
        });
        expect(created.code).toBe(0);
        const out = JSON.parse(created.stdout);
        expect(Object.keys(out).sort()).toEqual(['id', 'role', 'token', 'userId']);
        const later = new Date(Math.floor((Date.now() + 200 * DAY) / 1000) * 1000);
        const human = await runCli(['tokens', 'create', '--user', 'erin', '--expires', later.toISOString()], {
          env,
        });
        expect(human.code).toBe(0);
        expect(human.stderr).toContain(`expires ${later.toISOString()}`);

        const listed = await runCli(['tokens', 'list', '--json'], { env });
        const item = JSON.parse(listed.stdout).items.find((t: { id: string }) => t.id === out.id);
        expect(Date.parse(item.expiresAt) - Date.now()).toBeGreaterThan(89 * DAY);
        expect(item.lastUsedAt).toBeNull();

        await s.t.db.prisma.apiToken.update({
          where: { id: out.id },
          data: { expiresAt: new Date(Date.now() - 1000) },
        });
        const table = await runCli(['tokens', 'list'], { env });
        expect(table.code).toBe(0);
        expect(table.stdout).toMatch(/expires/);
        const row = table.stdout.split('\n').find((l) => l.includes(out.id))!;
        expect(row).toMatch(/\(expired\)/);
        const localDay = `${later.getFullYear()}-${String(later.getMonth() + 1).padStart(2, '0')}-${String(later.getDate()).padStart(2, '0')}`;
        expect(table.stdout.split('\n').find((l) => l.includes('erin'))).toContain(localDay);
        expect(table.stdout.split('\n').find((l) => l.includes('root'))).toMatch(/never/);

        const bad = await runCli(['tokens', 'create', '--user', 'x', '--expires', 'soon'], { env });
        expect(bad.code).toBe(2);
        expect(bad.stderr).toMatch(/--expires takes a duration/);
        const expired = await runCli(['list'], { env: { ...env, JOBS_TOKEN: out.token } });
        expect(expired.code).toBe(1);
        expect(expired.stderr.trim()).toBe('token expired');
      } finally {
        fs.rmSync(home, { recursive: true, force: true });
      }
    }, 180_000); // six CLI processes on a loaded machine
  }
});
