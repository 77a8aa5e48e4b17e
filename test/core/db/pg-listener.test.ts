import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import pg from 'pg';
import { PgListener } from '../../../core/db/pg-listener.js';
import { createScratchDatabase } from '../../helpers/db.js';
import { until } from '../../helpers/counting.js';

/** A LISTEN that outlives its connection: terminated backends are replaced and LISTEN again. */
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
    const listener = new PgListener({
      url: db.url,
      channel: 'test_channel',
      onNotify: (p) => got.push(p),
      onReconnect: () => reconnects++,
      onTrouble: (_err, phase) => troubles.push(phase),
    });
    await listener.start();
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

  it('rejects start() when the server cannot be reached', async () => {
    const listener = new PgListener({
      url: 'postgresql://root@127.0.0.1:1/nothing',
      channel: 'c',
      onNotify: () => {},
    });
    await expect(listener.start()).rejects.toThrow(/ECONNREFUSED/);
    await listener.close();
  });
});
