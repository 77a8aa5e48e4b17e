import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import pg from 'pg';
import { PgListener } from '../../../core/db/pg-listener.js';
import { createScratchDatabase } from '../../helpers/db.js';
import { until } from '../../helpers/counting.js';

/**
 * The LISTENs of a process on one connection that outlives its backend: terminated backends are
 * replaced and LISTEN again on every channel.
 */
const withPostgres = process.env.TEST_DATABASE_URL ? describe : describe.skip;

withPostgres('PgListener', () => {
  let db: { url: string; drop: () => Promise<void> };
  let admin: pg.Client;
  beforeAll(async () => {
    db = await createScratchDatabase();
    admin = new pg.Client({ connectionString: db.url });
    await admin.connect();
  });
  afterAll(async () => {
    await admin?.end();
    await db?.drop();
  });

  /** The other backends of the scratch database (the listener's), by the channels they listen on. */
  const listeningBackends = async () =>
    (
      await admin.query<{ n: number }>(
        `SELECT count(*)::int AS n FROM pg_stat_activity
         WHERE datname = current_database() AND pid <> pg_backend_pid()`,
      )
    ).rows[0].n;
  const terminateListeners = async () =>
    (
      await admin.query<{ n: number }>(
        `SELECT count(pg_terminate_backend(pid))::int AS n FROM pg_stat_activity
         WHERE datname = current_database() AND pid <> pg_backend_pid()`,
      )
    ).rows[0].n;

  it('reconnects after its backend is terminated, says so, and receives notifications again', async () => {
    const got: string[] = [];
    let reconnects = 0;
    const troubles: string[] = [];
    const listener = new PgListener({ url: db.url, onTrouble: (_err, phase) => troubles.push(phase) });
    await listener.listen(
      'test_channel',
      (p) => got.push(p),
      () => reconnects++,
    );
    try {
      await admin.query(`SELECT pg_notify('test_channel', 'before')`);
      await until(
        'the first notification',
        () => got,
        (g) => g.includes('before'),
      );

      for (let i = 1; i <= 2; i++) {
        expect(await terminateListeners()).toBe(1);
        await until(
          `reconnect ${i}`,
          () => reconnects,
          (n) => n === i,
        );
        await admin.query(`SELECT pg_notify('test_channel', 'after ${i}')`);
        await until(
          `a notification after reconnect ${i}`,
          () => got,
          (g) => g.includes(`after ${i}`),
        );
      }
      expect(troubles.filter((t) => t === 'lost')).toHaveLength(2);
    } finally {
      await listener.close();
    }
    // Closed: no connection left behind, and no reconnect.
    await until('the connection to go', terminateListeners, (n) => n === 0);
    expect(reconnects).toBe(2);
  }, 300_000);

  it('listens on every channel through one connection, and each channel gets only its own', async () => {
    const got: Record<string, string[]> = { a: [], b: [], b2: [] };
    const reconnects: string[] = [];
    const listener = new PgListener({ url: db.url });
    try {
      const stopA = await listener.listen(
        'chan_a',
        (p) => got.a.push(p),
        () => reconnects.push('a'),
      );
      await listener.listen(
        'chan_b',
        (p) => got.b.push(p),
        () => reconnects.push('b'),
      );
      // A second subscriber of a channel already listened to.
      const stopB2 = await listener.listen('chan_b', (p) => got.b2.push(p));
      expect(await listeningBackends()).toBe(1);

      await admin.query(`SELECT pg_notify('chan_a', 'to a'), pg_notify('chan_b', 'to b')`);
      await until(
        'both notifications',
        () => got,
        (g) => g.a.length === 1 && g.b.length === 1 && g.b2.length === 1,
      );
      expect(got).toEqual({ a: ['to a'], b: ['to b'], b2: ['to b'] });

      // One backend for both channels: a loss is one reconnect, and both channels are back.
      expect(await terminateListeners()).toBe(1);
      await until(
        'both subscribers told of the reconnect',
        () => reconnects,
        (r) => r.length === 2,
      );
      expect(reconnects.sort()).toEqual(['a', 'b']);
      await admin.query(`SELECT pg_notify('chan_a', 'again a'), pg_notify('chan_b', 'again b')`);
      await until(
        'the notifications after the reconnect',
        () => got,
        (g) => g.a.includes('again a') && g.b.includes('again b') && g.b2.includes('again b'),
      );

      // Unsubscribed: a channel no one listens to any more is UNLISTENed; the others still arrive.
      await stopA();
      await stopB2();
      await admin.query(`SELECT pg_notify('chan_a', 'late a'), pg_notify('chan_b', 'late b')`);
      await until(
        'the late notification on b',
        () => got,
        (g) => g.b.includes('late b'),
      );
      expect(got.a).not.toContain('late a');
      expect(got.b2).not.toContain('late b');
      expect(await listeningBackends()).toBe(1);
    } finally {
      await listener.close();
    }
    await until('the connection to go', listeningBackends, (n) => n === 0);
  }, 300_000);

  it('ends its connection when the last subscriber leaves, and connects again for the next', async () => {
    const got: string[] = [];
    const listener = new PgListener({ url: db.url });
    try {
      const stop = await listener.listen('chan_c', () => {});
      expect(await listeningBackends()).toBe(1);
      await stop();
      await until('the connection to go', listeningBackends, (n) => n === 0);
      await listener.listen('chan_c', (p) => got.push(p));
      await admin.query(`SELECT pg_notify('chan_c', 'back')`);
      await until(
        'a notification on the new connection',
        () => got,
        (g) => g.includes('back'),
      );
    } finally {
      await listener.close();
    }
  }, 300_000);

  it('rejects listen() when the server cannot be reached, and keeps nothing of it', async () => {
    const listener = new PgListener({ url: 'postgresql://root@127.0.0.1:1/nothing' });
    await expect(listener.listen('c', () => {})).rejects.toThrow(/ECONNREFUSED/);
    await expect(listener.listen('c', () => {})).rejects.toThrow(/ECONNREFUSED/);
    await listener.close();
    await expect(listener.listen('c', () => {})).rejects.toThrow(/closed/);
  });
});
