import { afterAll, beforeAll, beforeEach, describe, expect, it } from '@jest/globals';
import { ADMIN_PERMISSIONS, PERMISSIONS, type Permission } from '../../core/auth/principal.js';
import { api, startTestServer, type TestServer } from '../helpers/api-server.js';
import { openDatabase } from '../../core/db/database.js';
import { migrate, readMigrations } from '../../core/db/migrate.js';
import { createScratchDatabase, dbKinds } from '../helpers/db.js';

/**
 * Admin power is a permission of the token, checked on every admin route: a `job:Read` token of
 * the admin user is read-only everywhere, and acts as no admin at all.
 */
describe.each(dbKinds())('token scopes on %s', (kind) => {
  let s: TestServer;
  let root: string;
  let rootReader: string;
  let alice: string;

  beforeAll(async () => {
    s = await startTestServer(kind);
  });
  afterAll(async () => {
    await s.close();
  });
  beforeEach(async () => {
    await s.reset();
    root = await s.token('root', { admin: true });
    rootReader = await s.token('root', { admin: true, permissions: ['job:Read'] });
    alice = await s.token('alice');
  });

  const token = (user: string, permissions: Permission[], admin = true) =>
    s.token(user, { admin, permissions });

  /** A job of `owner` that stays PENDING (no worker runs in this suite). */
  async function pendingJob(owner: string): Promise<string> {
    const res = await api(s.url, owner, 'POST', '/api/jobs', { type: 'noop', params: { sleepMs: 60_000 } });
    expect(res.status).toBe(201);
    return res.body.id;
  }

  /** A job of `owner` that ran out of attempts and was dead-lettered. */
  async function deadLetter(owner: string): Promise<string> {
    const id = await pendingJob(owner);
    await s.t.db.prisma.job.update({
      where: { id },
      data: { status: 'FAILED', attempts: 3, deadLetteredAt: new Date(), finishedAt: new Date() },
    });
    return id;
  }

  const status = async (id: string) => (await s.t.db.prisma.job.findUniqueOrThrow({ where: { id } })).status;

  it('refuses a read-only token of the admin user on every admin route (403), changing nothing', async () => {
    const me = await api(s.url, rootReader, 'GET', '/api/me');
    expect(me.body).toMatchObject({ name: 'root', role: 'user', permissions: ['job:Read'] });

    const aliceTokenId = (await s.auth.authenticate(alice)).tokenId;
    const dead = await deadLetter(alice);
    const tokensBefore = await s.t.db.prisma.apiToken.count();

    const refused: [string, string, unknown?][] = [
      ['POST', '/api/tokens', { user: 'mallory', admin: true }],
      ['POST', '/api/tokens', { user: 'mallory', permissions: ['job:Read'] }],
      ['GET', '/api/tokens'],
      ['DELETE', `/api/tokens/${aliceTokenId}`],
      ['GET', '/api/dlq'],
      ['POST', '/api/dlq/redrive', {}],
      ['POST', '/api/dlq/redrive', { ids: [dead] }],
      ['GET', '/api/jobs?all=true'],
    ];
    for (const [method, path, body] of refused) {
      const res = await api(s.url, rootReader, method, path, body);
      expect({ route: `${method} ${path}`, status: res.status, code: res.body.error?.code }).toEqual({
        route: `${method} ${path}`,
        status: 403,
        code: 'forbidden',
      });
    }
    const tokens = await api(s.url, rootReader, 'GET', '/api/tokens');
    expect(tokens.body.error.message).toBe(
      'managing API tokens needs the token:Manage permission, which this token lacks',
    );
    expect((await api(s.url, rootReader, 'GET', '/api/dlq')).body.error.message).toMatch(/dlq:Manage/);
    expect((await api(s.url, rootReader, 'GET', '/api/jobs?all=true')).body.error.message).toMatch(
      /job:ReadAll/,
    );

    // The live list with all=true is refused like the JSON one.
    const stream = await fetch(`${s.url}/api/jobs?all=true`, {
      headers: { authorization: `Bearer ${rootReader}`, accept: 'text/event-stream' },
    });
    expect(stream.status).toBe(403);
    await stream.body?.cancel();

    // Another user's job is as invisible as to any user.
    for (const p of [`/api/jobs/${dead}`, `/api/jobs/${dead}/logs`]) {
      expect((await api(s.url, rootReader, 'GET', p)).status).toBe(404);
    }
    expect((await api(s.url, rootReader, 'POST', `/api/jobs/${dead}/retry`)).status).toBe(404);

    expect(await s.t.db.prisma.apiToken.count()).toBe(tokensBefore);
    expect(await s.t.db.prisma.user.count({ where: { name: 'mallory' } })).toBe(0);
    expect(
      (await s.t.db.prisma.apiToken.findUniqueOrThrow({ where: { id: aliceTokenId } })).revokedAt,
    ).toBeNull();
    expect(await status(dead)).toBe('FAILED');
    expect((await api(s.url, alice, 'GET', '/api/jobs')).status).toBe(200);
  });

  it('refuses create, cancel and retry to read-only tokens (403), of users and of admins alike', async () => {
    const aliceReader = await token('alice', ['job:Read'], false);
    for (const [owner, reader] of [
      [alice, aliceReader],
      [root, rootReader],
    ] as const) {
      const pending = await pendingJob(owner);
      const dead = await deadLetter(owner);
      const attempts: [string, string, unknown?][] = [
        ['POST', '/api/jobs', { type: 'noop' }],
        ['POST', '/api/uploads', { fileName: 'a.csv', size: 10, sha256: 'a'.repeat(64) }],
        ['POST', `/api/jobs/${pending}/cancel`],
        ['POST', `/api/jobs/${dead}/retry`],
      ];
      for (const [method, path, body] of attempts) {
        const res = await api(s.url, reader, method, path, body);
        expect({ route: `${method} ${path}`, status: res.status }).toEqual({
          route: `${method} ${path}`,
          status: 403,
        });
        expect(res.body.error.message).toMatch(/job:Create/);
      }
      expect(await status(pending)).toBe('PENDING');
      expect(await status(dead)).toBe('FAILED');
      // Reading its own jobs is what it may do.
      expect((await api(s.url, reader, 'GET', `/api/jobs/${pending}`)).status).toBe(200);
    }
    expect(await s.t.db.prisma.job.count()).toBe(4);
  });

  it('lets a full admin token do everything: tokens, the DLQ, and every user’s jobs', async () => {
    const me = await api(s.url, root, 'GET', '/api/me');
    expect(me.body).toMatchObject({ role: 'admin', permissions: [...PERMISSIONS] });

    const created = await api(s.url, root, 'POST', '/api/tokens', { user: 'ops', admin: true });
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({ role: 'admin', permissions: [...PERMISSIONS] });
    const listed = await api(s.url, root, 'GET', '/api/tokens');
    expect(listed.status).toBe(200);
    expect(listed.body.items.find((t: { id: string }) => t.id === created.body.id)).toMatchObject({
      userName: 'ops',
      role: 'admin',
      permissions: [...PERMISSIONS],
    });
    expect((await api(s.url, root, 'DELETE', `/api/tokens/${created.body.id}`)).status).toBe(200);
    expect((await api(s.url, created.body.token, 'GET', '/api/me')).status).toBe(401);

    const pending = await pendingJob(alice);
    const dead = await deadLetter(alice);
    expect((await api(s.url, root, 'GET', '/api/jobs?all=true')).body.items).toHaveLength(2);
    expect((await api(s.url, root, 'GET', `/api/jobs/${pending}`)).status).toBe(200);
    expect((await api(s.url, root, 'GET', '/api/dlq')).body.items.map((j: { id: string }) => j.id)).toEqual([
      dead,
    ]);
    const redriven = await api(s.url, root, 'POST', '/api/dlq/redrive', { ids: [dead] });
    expect(redriven.body.requeued).toEqual([dead]);
    expect((await api(s.url, root, 'POST', `/api/jobs/${pending}/cancel`)).body.status).toBe('CANCELLED');
    expect((await api(s.url, root, 'POST', `/api/jobs/${pending}/retry`)).body.status).toBe('PENDING');
  });

  it('gives narrowed admin tokens exactly their permissions', async () => {
    const pending = await pendingJob(alice);
    await deadLetter(alice);

    // Support: reads every job, changes none.
    const support = await token('root', ['job:Read', 'job:ReadAll']);
    expect((await api(s.url, support, 'GET', '/api/me')).body.role).toBe('admin');
    expect((await api(s.url, support, 'GET', '/api/jobs?all=true')).body.items).toHaveLength(2);
    expect((await api(s.url, support, 'GET', `/api/jobs/${pending}/logs`)).status).toBe(200);
    expect((await api(s.url, support, 'POST', `/api/jobs/${pending}/cancel`)).status).toBe(403);
    expect((await api(s.url, support, 'GET', '/api/dlq')).status).toBe(403);
    expect((await api(s.url, support, 'GET', '/api/tokens')).status).toBe(403);

    // Seeing every job and creating one's own does not make another user's job one's to change.
    const seer = await token('root', ['job:Read', 'job:Create', 'job:ReadAll']);
    const cancel = await api(s.url, seer, 'POST', `/api/jobs/${pending}/cancel`);
    expect(cancel.status).toBe(403);
    expect(cancel.body.error.message).toMatch(/job:ManageAll/);
    const own = await pendingJob(seer);
    expect((await api(s.url, seer, 'POST', `/api/jobs/${own}/cancel`)).status).toBe(200);
    const manager = await token('root', ['job:Read', 'job:Create', 'job:ReadAll', 'job:ManageAll']);
    expect((await api(s.url, manager, 'POST', `/api/jobs/${pending}/cancel`)).status).toBe(200);

    // An operator: the DLQ only.
    const operator = await token('root', ['dlq:Manage']);
    expect((await api(s.url, operator, 'GET', '/api/dlq')).status).toBe(200);
    expect((await api(s.url, operator, 'GET', '/api/jobs')).status).toBe(403);
    expect((await api(s.url, operator, 'GET', '/api/tokens')).status).toBe(403);
  });

  it('keeps admin permissions off user tokens (400) and lets a token grant only what it holds (403)', async () => {
    const users = () =>
      s.t.db.prisma.user.findMany({ orderBy: { name: 'asc' }, select: { name: true, role: true } });
    const before = await users();
    const tokensBefore = await s.t.db.prisma.apiToken.count();

    const forAlice = await api(s.url, root, 'POST', '/api/tokens', {
      user: 'alice',
      permissions: ['job:Read', 'token:Manage'],
    });
    expect(forAlice.status).toBe(400);
    expect(forAlice.body.error.message).toBe(
      'token:Manage is an admin permission; user alice is not an admin (create the token with admin: true / --admin)',
    );
    const forNew = await api(s.url, root, 'POST', '/api/tokens', {
      user: 'newbie',
      permissions: ['dlq:Manage'],
    });
    expect(forNew.status).toBe(400);
    expect(await users()).toEqual(before); // newbie was not created, alice not promoted
    await expect(s.auth.createToken({ userName: 'alice', permissions: ['job:ReadAll'] })).rejects.toThrow(
      /not an admin/,
    );

    const minter = await token('root', ['token:Manage', 'job:Read']);
    const escalate = await api(s.url, minter, 'POST', '/api/tokens', { user: 'x', admin: true });
    expect(escalate.status).toBe(403);
    expect(escalate.body.error.message).toBe(
      'a token can grant only permissions it holds; this one lacks job:Create, job:ReadAll, job:ManageAll, dlq:Manage',
    );
    expect(await s.t.db.prisma.apiToken.count()).toBe(tokensBefore + 1); // the minter itself
    const narrow = await api(s.url, minter, 'POST', '/api/tokens', { user: 'x', permissions: ['job:Read'] });
    expect(narrow.status).toBe(201);
    expect(narrow.body).toMatchObject({ role: 'user', permissions: ['job:Read'] });

    // --admin with --permission narrows; without --admin even the admin user gets a user token.
    const narrowed = await api(s.url, root, 'POST', '/api/tokens', {
      user: 'ops',
      admin: true,
      permissions: ['job:Read', 'job:ReadAll'],
    });
    expect(narrowed.body).toMatchObject({ role: 'admin', permissions: ['job:Read', 'job:ReadAll'] });
    const plain = await api(s.url, root, 'POST', '/api/tokens', { user: 'root' });
    expect(plain.body).toMatchObject({ role: 'user', permissions: ['job:Create', 'job:Read'] });
    expect((await api(s.url, plain.body.token, 'GET', '/api/jobs?all=true')).status).toBe(403);
    const unknown = await api(s.url, root, 'POST', '/api/tokens', { user: 'x', permissions: ['admin:*'] });
    expect(unknown.status).toBe(400);
  });

  it('bounds a token by its user’s role even if its row says more', async () => {
    const id = (await s.auth.authenticate(alice)).tokenId;
    await s.t.db.prisma.apiToken.update({ where: { id }, data: { permissions: [...PERMISSIONS] } });
    const me = await api(s.url, alice, 'GET', '/api/me');
    expect(me.body).toMatchObject({ role: 'user', permissions: ['job:Create', 'job:Read'] });
    expect((await api(s.url, alice, 'GET', '/api/tokens')).status).toBe(403);
    const listed = (await api(s.url, root, 'GET', '/api/tokens')).body.items.find(
      (t: { id: string }) => t.id === id,
    );
    expect(listed).toMatchObject({ role: 'user', permissions: ['job:Create', 'job:Read'] });
  });

  it('gives the bootstrap admin token every permission', async () => {
    await s.reset();
    const created = await s.auth.bootstrapAdmin();
    expect(created).toMatchObject({ role: 'admin', permissions: [...PERMISSIONS] });
    const p = await s.auth.authenticate(created!.token);
    expect(p.permissions).toEqual(expect.arrayContaining([...ADMIN_PERMISSIONS]));
    expect((await api(s.url, created!.token, 'GET', '/api/dlq')).status).toBe(200);
    expect((await api(s.url, created!.token, 'GET', '/api/tokens')).status).toBe(200);
  });
});

/**
 * Upgrading a database made before token scopes: admin tokens with the old full set keep their
 * powers (the bootstrap token in a saved profile goes on working), narrowed ones stay narrow.
 */
describe.each(dbKinds())('the admin-permissions migration on %s', (kind) => {
  it('gives old full admin tokens every permission and leaves the rest alone', async () => {
    const scratch = kind === 'postgres' ? await createScratchDatabase() : undefined;
    const db = await openDatabase({ url: scratch?.url });
    try {
      const all = readMigrations();
      const upgrade = all.findIndex((m) => m.name.endsWith('_auth_admin_permissions'));
      expect(upgrade).toBeGreaterThan(0);
      await migrate(db, all.slice(0, upgrade));
      const sql = db.prisma.$executeRawUnsafe.bind(db.prisma);
      await sql(`INSERT INTO users (id, name, role) VALUES
        ('00000000-0000-4000-8000-000000000001', 'admin', 'admin'),
        ('00000000-0000-4000-8000-000000000002', 'alice', 'user')`);
      const tokens: [number, number, string][] = [
        [1, 1, `{job:Create,job:Read}`], // the bootstrap token
        [2, 1, `{job:Read}`], // narrowed: stays read-only
        [3, 2, `{job:Create,job:Read}`], // a user's: no admin powers
      ];
      for (const [n, user, perms] of tokens) {
        await sql(
          `INSERT INTO api_tokens (id, user_id, name, token_hash, permissions)
           VALUES ('00000000-0000-4000-9000-00000000000${n}', '00000000-0000-4000-8000-00000000000${user}',
                   't${n}', 'hash${n}', '${perms}')`,
        );
      }
      await migrate(db);
      const rows = await db.prisma.apiToken.findMany({ orderBy: { name: 'asc' } });
      expect(rows.map((r) => [r.name, [...r.permissions].sort()])).toEqual([
        ['t1', [...PERMISSIONS].sort()],
        ['t2', ['job:Read']],
        ['t3', ['job:Create', 'job:Read']],
      ]);
    } finally {
      await db.close();
      await scratch?.drop();
    }
  });
});
