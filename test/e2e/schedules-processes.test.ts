import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import pg from 'pg';
import { api } from '../helpers/api-server.js';
import { until } from '../helpers/counting.js';
import { createScratchDatabase } from '../helpers/db.js';
import {
  type CliProcess,
  profileToken,
  type ServerProcess,
  startServerProcess,
  startWorkerProcess,
} from '../helpers/server-process.js';

const withPostgres = process.env.TEST_DATABASE_URL ? describe : describe.skip;

/**
 * Real processes on one PostgreSQL database: two `jobs server --no-worker` (API hosts, each with
 * its reaper and schedule ticker) and three `jobs worker` (each with its own ticker). Five tickers
 * race for every tick of a schedule that fires every second: each tick gets exactly one job.
 */
withPostgres('cron schedules across two API hosts and three workers', () => {
  let db: { url: string; drop: () => Promise<void> };
  let client: pg.Client;
  /** The first server's CLI profile: it holds the admin token that start created. */
  let adminConfig: string;
  const dirs: string[] = [];
  const servers: ServerProcess[] = [];
  const workers: CliProcess[] = [];
  const tmp = (p: string) => {
    const d = fs.mkdtempSync(path.join(os.tmpdir(), p));
    dirs.push(d);
    return d;
  };

  beforeAll(async () => {
    db = await createScratchDatabase();
    // One after the other: the first start migrates and creates the admin token.
    for (let i = 0; i < 2; i++) {
      const configHome = tmp('jobs-sched-cfg-');
      adminConfig ??= configHome;
      servers.push(
        await startServerProcess(
          { DATABASE_URL: db.url, XDG_CONFIG_HOME: configHome, JOBS_DATA_DIR: tmp('jobs-sched-data-') },
          ['--no-worker'],
        ),
      );
    }
    const started = await Promise.all(
      [0, 1, 2].map(() =>
        startWorkerProcess({ DATABASE_URL: db.url, JOBS_DATA_DIR: tmp('jobs-sched-w-') }, [
          '--concurrency',
          '2',
        ]),
      ),
    );
    workers.push(...started);
    client = new pg.Client({ connectionString: db.url });
    await client.connect();
  }, 180_000);

  afterAll(async () => {
    await client?.end();
    await Promise.all([...workers, ...servers].map((p) => p.stop('SIGTERM')));
    await db?.drop();
    for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
  });

  it('creates exactly one job per tick of an every-second schedule, and the workers run them', async () => {
    const token = profileToken(adminConfig);
    const [a, b] = servers;
    const created = await api(a.url, token, 'POST', '/api/schedules', {
      cron: '* * * * * *',
      type: 'noop',
      params: { logLines: 1 },
      name: 'every second',
    });
    expect(created.status).toBe(201);
    const id = created.body.id as string;
    // The other API host sees it at once.
    expect((await api(b.url, token, 'GET', `/api/schedules/${id}`)).body.cron).toBe('* * * * * *');

    const ticks = (sql: string) => client.query(sql, [id]).then((r) => r.rows);
    const TICKS = 8;
    await until(
      `${TICKS} ticks with jobs`,
      () => ticks('SELECT count(*)::int AS n FROM jobs WHERE schedule_id = $1'),
      (rows) => rows[0].n >= TICKS,
      60_000,
    );
    // Stopped through the other host: no tick after this answer.
    expect((await api(b.url, token, 'PATCH', `/api/schedules/${id}`, { paused: true })).body.paused).toBe(
      true,
    );

    const perTick = await ticks(
      'SELECT schedule_tick_at AS tick, count(*)::int AS n FROM jobs WHERE schedule_id = $1 GROUP BY 1 ORDER BY 1',
    );
    expect(perTick.length).toBeGreaterThanOrEqual(TICKS);
    expect(perTick.filter((r) => r.n !== 1)).toEqual([]);
    // Every job is for a whole second.
    for (const r of perTick) expect((r.tick as Date).getTime() % 1000).toBe(0);
    const schedule = (await api(a.url, token, 'GET', `/api/schedules/${id}`)).body;
    expect(schedule.lastError).toBeNull();
    expect(schedule.lastJobId).not.toBeNull();

    // The workers run them all (each once).
    await until(
      'every scheduled job completed',
      () =>
        ticks(
          `SELECT count(*) FILTER (WHERE status = 'COMPLETED')::int AS done, count(*)::int AS n, max(attempts)::int AS attempts
           FROM jobs WHERE schedule_id = $1`,
        ),
      (rows) => rows[0].done === rows[0].n,
      60_000,
    );
    const [runs] = await ticks('SELECT max(attempts)::int AS attempts FROM jobs WHERE schedule_id = $1');
    expect(runs.attempts).toBe(1);
    // Nobody's ticker failed along the way.
    for (const p of [...servers, ...workers]) expect(p.stderr()).not.toMatch(/schedules: tick failed/);
  }, 180_000);
});
